namespace Engine.Peft.Subspace;

/// <summary>
/// PEANuT (weight-aware non-linear update; PEFT's <c>PeanutConfig</c>): ΔW is a small network applied to the frozen
/// weight, ΔWᵀ = s · act(Wᵀ Aᵀ) ... Bᵀ with <c>depth</c> encoder and decoder layers of width r in between (decoders
/// add the matching encoder's input back). PEFT's field names and defaults (r 32, depth 0, relu, scaling 1).
/// <code>var peft = Peft.Apply(gpt, new PeanutConfig { R = 8, Depth = 1, ActFn = "gelu_new", TargetModules = ["c_attn"] });</code>
/// </summary>
[PeftMethod("PEANUT", Layer = typeof(PeanutLayer), Mergeable = true, StartsAtBase = true, ZooLearningRate = 1e-2)]
public sealed record PeanutConfig : PeftConfig
{
    /// <summary>Width r of the network (A maps the weight's out columns to r).</summary>
    public int R { get; init; } = 32;

    /// <summary>Number of encoder layers (and of decoder layers), each r x r.</summary>
    public int Depth { get; init; }

    /// <summary>The non-linearity, a Hugging Face activation name (<see cref="HfActivation"/>).</summary>
    public string ActFn { get; init; } = "relu";

    /// <summary>Multiplies ΔW.</summary>
    public double Scaling { get; init; } = 1.0;

    /// <summary>True: B = 0, so the model starts at the base; false: B Kaiming-uniform too.</summary>
    public bool InitWeights { get; init; } = true;

    /// <inheritdoc/>
    public override void Validate()
    {
        if (R < 1) throw new ArgumentException($"PeanutConfig: r must be positive, got {R}");
        if (Depth < 0) throw new ArgumentException($"PeanutConfig: depth must be non-negative, got {Depth}");
        RequireFiniteInFloat32("scaling", Scaling);
        if (!HfActivation.Names.Contains(ActFn))
            throw new ArgumentException($"PeanutConfig: act_fn '{ActFn}' is not supported; supported: {string.Join(", ", HfActivation.Names.Order(StringComparer.Ordinal))}");
    }

    /// <summary>The zoo's PEANuT: width = size, one encoder and decoder, every block projection.</summary>
    public static PeanutConfig Preset(AdapterPreset p) => new() { R = p.Size, Depth = 1, TargetModules = p.Linears, Seed = p.Seed };
}
