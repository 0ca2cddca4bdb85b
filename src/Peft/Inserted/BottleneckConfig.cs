namespace Engine.Peft.Inserted;

/// <summary>
/// Bottleneck adapters (Houlsby et al. 2019, section 2.1): h ← h + f(h W_down^T + b_down) W_up^T + b_up inserted after the
/// output projection of attention and/or of the feed-forward block, before the residual add. PEFT has no such method:
/// the files use PEFT's layout with the engine's <c>peft_type</c> "BOTTLENECK". Not mergeable (f is non-linear). The
/// paper also trains the layer norms: list them in <see cref="PeftConfig.ModulesToSave"/> (the preset does).
/// <code>var peft = Peft.Apply(gpt, new BottleneckConfig { BottleneckSize = 16, TargetModules = ["attn.proj", "mlp.proj"] });</code>
/// </summary>
[PeftMethod("BOTTLENECK", Layer = typeof(BottleneckLayer), StartsAtBase = false, InPeft = false, ZooLearningRate = 3e-2)]
public sealed record BottleneckConfig : PeftConfig
{
    /// <summary>Width m of the bottleneck.</summary>
    public int BottleneckSize { get; init; } = 64;

    /// <summary>The non-linearity f: "gelu", "relu" or "tanh".</summary>
    public string Activation { get; init; } = "gelu";

    /// <summary>
    /// Standard deviation of the truncated-normal initialisation (at ±2 std) of both projections' weights, biases zero:
    /// the near-identity start of the reference code (<c>init_scale</c> 1e-3).
    /// </summary>
    public double InitStd { get; init; } = 1e-3;

    /// <inheritdoc/>
    public override void Validate()
    {
        if (BottleneckSize < 1) throw new ArgumentException($"BottleneckConfig: bottleneck_size must be positive, got {BottleneckSize}");
        if (Activation is not ("gelu" or "relu" or "tanh")) throw new ArgumentException($"BottleneckConfig: activation '{Activation}' is not one of gelu, relu, tanh");
        if (!(InitStd >= 0) || !double.IsFinite(InitStd)) throw new ArgumentException($"BottleneckConfig: init_std must be finite and non-negative, got {InitStd}");
    }

    /// <summary>The zoo's bottleneck: width = size after both sub-layer outputs, layer norms trained as in the paper.</summary>
    public static BottleneckConfig Preset(AdapterPreset p) => new()
    {
        BottleneckSize = p.Size, TargetModules = p.SublayerOutputs, ModulesToSave = ["ln1", "ln2"], Seed = p.Seed,
    };
}
