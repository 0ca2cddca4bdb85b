namespace Engine.Peft.Spectral;

/// <summary>
/// WaveFT (Bilican et al. 2025, "Exploring Sparsity for Parameter Efficient Fine Tuning Using Wavelets"; PEFT's
/// <c>WaveFTConfig</c>): each adapted weight learns n wavelet coefficients at fixed random positions, and ΔW =
/// scaling · IDWT2(coefficients), a single-level inverse 2-D wavelet transform (or the sparse coefficients themselves
/// without use_idwt). PEFT's field names and defaults (n_frequency 2592, scaling 25, wavelet_family "db1",
/// random_loc_seed 777, init_weights true). The wavelets are those PEFT can build (db1-db10, sym2-sym10, coif1-coif3,
/// with PyWavelets' filters, <see cref="WaveletTransform"/>); PEFT's coif4 and coif5 filters are not coiflets, so those
/// are refused, as are the families PEFT names but cannot build (db11+, sym11+, coif6+).
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

    /// <summary>The wavelet of the inverse transform (db1 = Haar).</summary>
    public string WaveletFamily { get; init; } = "db1";

    /// <summary>True: ΔW is the inverse wavelet transform of the coefficients; false: the sparse coefficients themselves.</summary>
    public bool UseIdwt { get; init; } = true;

    /// <summary>
    /// True: PEFT's budget split by layer size (waveft/model.py, <c>_calculate_proportional_parameters</c>): the
    /// budget n_frequency · (number of targets) is shared in proportion to in·out, n_l = max(1, round(share)) with
    /// round half to even; it overrides n_frequency_pattern.
    /// </summary>
    public bool ProportionalParameters { get; init; }

    // PEFT's WAVELET_REDUCTIONS keys (waveft/constants.py): the families PEFT accepts.
    static readonly string[] PeftFamilies = [.. Enumerable.Range(1, 38).Select(i => $"db{i}"), .. Enumerable.Range(2, 19).Select(i => $"sym{i}"), .. Enumerable.Range(1, 17).Select(i => $"coif{i}")];

    // PEFT's coif4 and coif5 table entries (waveft/wavelet.py at 5d602fd) are not coiflets: their taps sum to 1.448
    // and 1.422 instead of √2, and coif5 has 48 taps instead of 30. A PEFT file of either family would not give PEFT's
    // outputs with the true filters, so both are refused rather than silently different.
    static readonly string[] PeftCorruptFamilies = ["coif4", "coif5"];

    /// <inheritdoc/>
    public override void Validate()
    {
        base.Validate();
        if (PeftCorruptFamilies.Contains(WaveletFamily))
            throw new NotSupportedException($"WaveFtConfig: wavelet_family '{WaveletFamily}' is refused: PEFT's table for it is not the coiflet (its taps do not sum to √2), so the engine cannot give PEFT's outputs; use coif1-coif3 or a db/sym family");
        if (!PeftFamilies.Contains(WaveletFamily))
            throw new ArgumentException($"WaveFtConfig: wavelet_family '{WaveletFamily}' is not a wavelet PEFT knows (db1..db38, sym2..sym20, coif1..coif17)");
        if (!WaveletTransform.IsKnown(WaveletFamily))
            throw new NotSupportedException($"WaveFtConfig: wavelet_family '{WaveletFamily}' is accepted by PEFT's config but its wavelet table stops at db10, sym10 and coif5, so PEFT cannot build it either");
    }

    /// <summary>
    /// The number of coefficients of the layer of <paramref name="context"/> (<paramref name="outFeatures"/> ×
    /// <paramref name="inFeatures"/>): its share of the budget with <see cref="ProportionalParameters"/>, else
    /// <see cref="SparseSpectrumConfig.CoefficientsFor"/>.
    /// </summary>
    public int CoefficientsFor(AdapterContext context, int outFeatures, int inFeatures)
    {
        if (!ProportionalParameters || context.Model is null) return CoefficientsFor(context.Path, outFeatures, inFeatures);
        var sizes = context.Model.TargetShapes(this).Select(t => (t.Path, Cells: (long)t.OutFeatures * t.InFeatures)).ToList();
        double total = sizes.Sum(t => (double)t.Cells);
        long budget = (long)NFrequency * sizes.Count;
        long mine = sizes.FirstOrDefault(t => t.Path == context.Path.Engine).Cells;
        if (mine == 0) mine = (long)outFeatures * inFeatures;
        // Python's round() rounds half to even, as Math.Round does by default.
        int n = (int)Math.Max(1, Math.Round(mine / total * budget));
        if (n > (long)outFeatures * inFeatures)
            throw new ArgumentException($"WaveFtConfig: the proportional share of '{context.Path.External}' is {n} coefficients, more than its in·out = {(long)outFeatures * inFeatures}");
        return n;
    }

    /// <summary>The zoo's WaveFT: 16 × size coefficients per layer.</summary>
    public static WaveFtConfig Preset(AdapterPreset p) => new() { NFrequency = 16 * p.Size, TargetModules = p.Linears, Seed = p.Seed };
}
