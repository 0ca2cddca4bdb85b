namespace Engine.Peft.Subspace;

/// <summary>
/// DeFT (decompositional efficient fine-tuning; PEFT's <c>DeftConfig</c>): W' = (I - Q rightᵀ) W + Q (s R), which
/// removes a learned rank-r subspace of W and injects a new one; P [out, r] and R [r, in] train. "relu": Q = P,
/// right = relu(P) (a non-orthogonal projector); "qr": Q = right = the Q factor of P (an orthogonal projector).
/// PaRa (<c>para</c>) keeps only the removal. PEFT's field names and defaults (r 8, relu, alpha none: s = 1).
/// <code>var peft = Peft.Apply(gpt, new DeftConfig { R = 8, DecompositionMethod = "qr", TargetModules = ["c_attn"] });</code>
/// </summary>
[PeftMethod("DEFT", Layer = typeof(DeftLayer), Mergeable = true, StartsAtBase = true, ZooLearningRate = 3e-2)]
public sealed record DeftConfig : PeftConfig, IBiasConfig
{
    /// <summary>Rank r of P and R (capped at the layer's output width, as PEFT).</summary>
    public int R { get; init; } = 8;

    /// <summary>"relu" (Q = P, projector P relu(P)ᵀ) or "qr" (Q = qr(P), projector Q Qᵀ).</summary>
    public string DecompositionMethod { get; init; } = "relu";

    /// <summary>With <see cref="InitWeights"/> false, R starts N(0, (0.02 init_scale)²).</summary>
    public double InitScale { get; init; } = 1.0;

    /// <summary>The injection is scaled by alpha / r; null (or 0, as PEFT's truthiness test) means no scaling.</summary>
    public double? Alpha { get; init; }

    /// <summary>PaRa: pure subspace removal ΔW = -Q rightᵀ W, no R (the model then cannot start at the base).</summary>
    public bool Para { get; init; }

    /// <summary>True when the Hugging Face layer stores its weight [in, out] (GPT-2's Conv1D).</summary>
    public bool FanInFanOut { get; init; }

    /// <summary>Dropout probability on the injection's input.</summary>
    public double DeftDropout { get; init; }

    /// <summary>Which biases of the base model train with the adapter: "none", "all" or "&lt;prefix&gt;_only" (<see cref="TrainedBiases"/>).</summary>
    public string Bias { get; init; } = "none";

    /// <summary>True: R = rightᵀ W / s, so ΔW = 0 at the start; false: R random (the original DeFT).</summary>
    public bool InitWeights { get; init; } = true;

    /// <summary>The injection's scale for rank <paramref name="r"/>: alpha / r, or 1 without alpha.</summary>
    public double Scaling(int r) => Alpha is { } a && a != 0 ? a / r : 1.0;

    /// <inheritdoc/>
    public override void Validate()
    {
        if (R < 1) throw new ArgumentException($"DeftConfig: r must be positive, got {R}");
        if (DecompositionMethod is not ("relu" or "qr")) throw new ArgumentException($"DeftConfig: decomposition_method must be 'relu' or 'qr', got '{DecompositionMethod}'");
        RequireFiniteInFloat32("init_scale", InitScale);
        if (Alpha is { } a) RequireFiniteInFloat32("alpha", a);
        if (!(DeftDropout >= 0 && DeftDropout < 1)) throw new ArgumentException($"DeftConfig: deft_dropout must be in [0, 1), got {DeftDropout}");
        TrainedBiases.Validate("DeftConfig", Bias);
    }

    /// <summary>The zoo's DeFT: rank = size, every block projection, PEFT's default (relu) projector.</summary>
    public static DeftConfig Preset(AdapterPreset p) => new() { R = p.Size, TargetModules = p.Linears, Seed = p.Seed };
}
