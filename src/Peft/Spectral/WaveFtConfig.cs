namespace Engine.Peft.Spectral;

/// <summary>
/// WaveFT (Bilican et al. 2025, "Exploring Sparsity for Parameter Efficient Fine Tuning Using Wavelets"; PEFT's
/// <c>WaveFTConfig</c>): each adapted weight learns n wavelet coefficients at fixed random positions, and ΔW =
/// scaling · IDWT2(coefficients), a single-level inverse 2-D wavelet transform (or the sparse coefficients themselves
/// without use_idwt). PEFT's field names and defaults (n_frequency 2592, scaling 25, wavelet_family "db1",
/// random_loc_seed 777, init_weights true). The engine implements db1 (Haar) only; the other families and
/// proportional_parameters are refused by name.
/// <code>var peft = Peft.Apply(gpt, new WaveFtConfig { NFrequency = 200, TargetModules = ["qkv"] });</code>
/// </summary>
[PeftMethod("WAVEFT", Layer = typeof(WaveFtLayer), Mergeable = true, StartsAtBase = true, ZooLearningRate = 3e-3)]
public sealed record WaveFtConfig : SparseSpectrumConfig
{
    /// <inheritdoc/>
    public override int NFrequency { get; init; } = 2592;

    /// <inheritdoc/>
    public override double Scaling { get; init; } = 25.0;

    /// <summary>True (PEFT's default): the coefficients start at zero; false: N(0, 0.01²).</summary>
    public override bool InitWeights { get; init; } = true;

    /// <summary>The wavelet of the inverse transform: only "db1" (Haar) is implemented.</summary>
    public string WaveletFamily { get; init; } = "db1";

    /// <summary>True: ΔW is the inverse wavelet transform of the coefficients; false: the sparse coefficients themselves.</summary>
    public bool UseIdwt { get; init; } = true;

    /// <summary>PEFT's budget split by layer size (n_l ∝ in_l · out_l); not implemented, so false.</summary>
    public bool ProportionalParameters { get; init; }

    // PEFT's WAVELET_REDUCTIONS keys (waveft/constants.py): the families PEFT accepts.
    static readonly string[] PeftFamilies = [.. Enumerable.Range(1, 38).Select(i => $"db{i}"), .. Enumerable.Range(2, 19).Select(i => $"sym{i}"), .. Enumerable.Range(1, 17).Select(i => $"coif{i}")];

    /// <inheritdoc/>
    public override void Validate()
    {
        base.Validate();
        if (WaveletFamily != "db1")
        {
            if (PeftFamilies.Contains(WaveletFamily))
                throw new NotSupportedException($"WaveFtConfig: wavelet_family '{WaveletFamily}' is not implemented; only 'db1' (Haar)");
            throw new ArgumentException($"WaveFtConfig: wavelet_family '{WaveletFamily}' is not a wavelet PEFT knows (db1..db38, sym2..sym20, coif1..coif17)");
        }
        if (ProportionalParameters)
            throw new NotSupportedException("WaveFtConfig: proportional_parameters is not implemented; give per-module sizes with n_frequency_pattern");
    }

    /// <summary>The zoo's WaveFT: 16 × size coefficients per layer.</summary>
    public static WaveFtConfig Preset(AdapterPreset p) => new() { NFrequency = 16 * p.Size, TargetModules = p.Linears, Seed = p.Seed };
}
