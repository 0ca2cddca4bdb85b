namespace Engine.Nn;

/// <summary>
/// Settings of a <see cref="LocalLearningCoefficient"/> estimate (spec seeds-remaining.md §9a; typical ranges [engine,
/// tune]: ε 1e-5 – 1e-3, γ 1 – 300, 4 chains × 200 – 1000 draws).
/// </summary>
public sealed record LlcOptions
{
    /// <summary>Independent chains, each started at w*.</summary>
    public int Chains { get; init; } = 4;

    /// <summary>Draws kept per chain (after the burn-in).</summary>
    public int Draws { get; init; } = 200;

    /// <summary>SGLD steps per chain discarded before the first draw.</summary>
    public int BurnIn { get; init; }

    /// <summary>SGLD steps between two kept draws (1: every step, devinterp's default).</summary>
    public int StepsPerDraw { get; init; } = 1;

    /// <summary>ε, the SGLD step size.</summary>
    public double StepSize { get; init; } = 1e-4;

    /// <summary>γ, the pull back to w*.</summary>
    public double Localization { get; init; } = 100;

    /// <summary>nβ; null means n / log n (<see cref="Sgld.DefaultNBeta"/>, devinterp's default).</summary>
    public double? NBeta { get; init; }

    /// <summary>σ of the injected noise.</summary>
    public double NoiseLevel { get; init; } = 1;

    /// <summary>λ, the sampler's (coupled) weight decay.</summary>
    public double WeightDecay { get; init; }

    /// <summary>Minibatches averaged for L_n(w*); null means one per chain, as devinterp.</summary>
    public int? InitBatches { get; init; }

    /// <summary>Seed of the noise (and, through the loss function's generator, of the minibatches).</summary>
    public ulong Seed { get; init; }

    internal void Validate()
    {
        if (Chains < 1) throw new ArgumentException($"LocalLearningCoefficient: Chains must be ≥ 1, got {Chains}");
        if (Draws < 1) throw new ArgumentException($"LocalLearningCoefficient: Draws must be ≥ 1, got {Draws}");
        if (BurnIn < 0) throw new ArgumentException($"LocalLearningCoefficient: BurnIn must be ≥ 0, got {BurnIn}");
        if (StepsPerDraw < 1) throw new ArgumentException($"LocalLearningCoefficient: StepsPerDraw must be ≥ 1, got {StepsPerDraw}");
        if (!(StepSize > 0) || double.IsInfinity(StepSize)) throw new ArgumentException($"LocalLearningCoefficient: StepSize ε must be positive, got {StepSize}");
        if (InitBatches is < 1) throw new ArgumentException($"LocalLearningCoefficient: InitBatches must be ≥ 1, got {InitBatches}");
    }
}
