namespace Engine.Peft.Subspace;

/// <summary>
/// PSOFT (orthogonal fine-tuning in the principal subspace; PEFT's <c>PsoftConfig</c>): ΔW = s B (R' - I) A with A, B
/// frozen from the top-r SVD of the base weight and only the r x r transform R' trained (<see cref="PsoftRotation"/>:
/// a Cayley rotation times two magnitude vectors). PEFT's field names and defaults (r 32, psoft_alpha 32, psoft_init,
/// exact Cayley, both magnitudes). PEFT does not save A and B; the engine rebuilds them from the base weight's SVD when
/// a file lacks them and writes them (<c>psoft_svd_A</c>, <c>psoft_svd_B</c>) into its own files, see docs/adapters.md.
/// <code>var peft = Peft.Apply(gpt, new PsoftConfig { R = 8, PsoftAlpha = 8, TargetModules = ["q_proj", "v_proj"] });</code>
/// </summary>
[PeftMethod("PSOFT", Layer = typeof(PsoftLayer), Mergeable = true, StartsAtBase = true, ZooLearningRate = 3e-2)]
public sealed record PsoftConfig : PeftConfig
{
    /// <summary>Rank r: the principal subspace and the size of R.</summary>
    public int R { get; init; } = 32;

    /// <summary>The update is scaled by s = psoft_alpha / r (B is divided by s, so ΔW does not depend on it).</summary>
    public double PsoftAlpha { get; init; } = 32;

    /// <summary>Dropout probability on the adapter's input.</summary>
    public double PsoftDropout { get; init; }

    /// <summary>True when the Hugging Face layer stores its weight [in, out] (GPT-2's Conv1D).</summary>
    public bool FanInFanOut { get; init; }

    /// <summary>"psoft_init": A = V_rᵀ, B = U_r diag(S_r / s); "pissa_init": A = diag(√(S_r / s)) V_rᵀ, B = U_r diag(√(S_r / s)).</summary>
    public string AbSvdInit { get; init; } = "psoft_init";

    /// <summary>"full" (torch.linalg.svd) or "lowrank" (torch.svd_lowrank, randomised: the engine takes the exact top r).</summary>
    public string PsoftSvd { get; init; } = "full";

    /// <summary>Power iterations of torch.svd_lowrank ("lowrank" only).</summary>
    public int PsoftSvdLowrankNiter { get; init; } = 10;

    /// <summary>Seed of torch.svd_lowrank's random projection ("lowrank" only).</summary>
    public long RandomSeed { get; init; }

    /// <summary>True: R is the Cayley transform of a skew-symmetric Q (orthogonal); false: R is a free r x r matrix.</summary>
    public bool PsoftOrth { get; init; } = true;

    /// <summary>Train a magnitude vector b on R's output side (R' = diag(b) R ...).</summary>
    public bool PsoftMagB { get; init; } = true;

    /// <summary>Train a magnitude vector a on R's input side (R' = ... R diag(a)).</summary>
    public bool PsoftMagA { get; init; } = true;

    /// <summary>Approximate the Cayley transform by its truncated Neumann series.</summary>
    public bool UseCayleyNeumann { get; init; }

    /// <summary>Terms of the Neumann series.</summary>
    public int NumCayleyNeumannTerms { get; init; } = 5;

    /// <summary>With the Neumann series: Q is rescaled to ‖Q‖_F ≤ eps when it is larger (null: never).</summary>
    public double? CayleyNeumannEps { get; init; }

    /// <summary>True: Q = 0 (or R = I), so ΔW = 0; false: Q ~ N(0, 0.1²) (or R = I + N(0, 0.1²)).</summary>
    public bool InitWeights { get; init; } = true;

    /// <summary>s = psoft_alpha / r.</summary>
    public double Scaling => PsoftAlpha / R;

    /// <inheritdoc/>
    public override void Validate()
    {
        if (R < 1) throw new ArgumentException($"PsoftConfig: r must be positive, got {R}");
        RequireFiniteInFloat32("psoft_alpha", PsoftAlpha);
        if (PsoftAlpha == 0) throw new ArgumentException("PsoftConfig: psoft_alpha must not be 0 (B is divided by psoft_alpha / r)");
        if (!(PsoftDropout >= 0 && PsoftDropout < 1)) throw new ArgumentException($"PsoftConfig: psoft_dropout must be in [0, 1), got {PsoftDropout}");
        if (AbSvdInit is not ("psoft_init" or "pissa_init")) throw new ArgumentException($"PsoftConfig: ab_svd_init must be 'psoft_init' or 'pissa_init', got '{AbSvdInit}'");
        if (PsoftSvd is not ("full" or "lowrank")) throw new ArgumentException($"PsoftConfig: psoft_svd must be 'full' or 'lowrank', got '{PsoftSvd}'");
        if (UseCayleyNeumann && NumCayleyNeumannTerms < 1) throw new ArgumentException($"PsoftConfig: num_cayley_neumann_terms must be positive, got {NumCayleyNeumannTerms}");
        if (UseCayleyNeumann && CayleyNeumannEps is { } eps && !(eps > 0 && eps < 1)) throw new ArgumentException($"PsoftConfig: cayley_neumann_eps must be in (0, 1), got {eps}");
    }

    /// <summary>The zoo's PSOFT: rank = size, every block projection.</summary>
    public static PsoftConfig Preset(AdapterPreset p) => new() { R = p.Size, PsoftAlpha = p.Size, TargetModules = p.Linears, Seed = p.Seed };
}
