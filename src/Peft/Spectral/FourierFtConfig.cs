namespace Engine.Peft.Spectral;

/// <summary>
/// FourierFT (Gao et al. 2024, "Parameter-Efficient Fine-Tuning with Discrete Fourier Transform"; PEFT's
/// <c>FourierFTConfig</c>): each adapted weight learns n spectral coefficients at fixed random positions of its 2-D
/// spectrum, and ΔW = scaling · Re(IFFT2(F)). PEFT's field names and defaults (n_frequency 1000, scaling 150,
/// random_loc_seed 777, init_weights false: the coefficients start N(0, 1), so the model does not start at the base).
/// <code>var peft = Peft.Apply(gpt, new FourierFtConfig { NFrequency = 200, TargetModules = ["qkv"] });</code>
/// </summary>
[PeftMethod("FOURIERFT", Layer = typeof(FourierFtLayer), Mergeable = true, StartsAtBase = false, ZooLearningRate = 1e-1)]
public sealed record FourierFtConfig : SparseSpectrumConfig
{
    /// <inheritdoc/>
    public override int NFrequency { get; init; } = 1000;

    /// <inheritdoc/>
    public override double Scaling { get; init; } = 150.0;

    /// <summary>False (PEFT's default): the coefficients start N(0, 1); true: zeros, so the model starts at the base.</summary>
    public override bool InitWeights { get; init; }

    /// <summary>The zoo's FourierFT: 16 × size coefficients per layer, starting at zero (so it starts at the base model).</summary>
    public static FourierFtConfig Preset(AdapterPreset p) =>
        new() { NFrequency = 16 * p.Size, InitWeights = true, TargetModules = p.Linears, Seed = p.Seed };
}
