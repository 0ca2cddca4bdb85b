namespace Engine.Peft.Elementwise;

/// <summary>
/// BEFT (PEFT's <c>BeftConfig</c>): a trainable offset β [1, out] added to a layer's output, y = x W^T + b + β, the
/// bias-only fine-tuning of BitFit kept as a separate, mergeable adapter. PEFT's field names and defaults.
/// <code>var peft = Peft.Apply(gpt, new BeftConfig { TargetModules = ["c_attn", "c_proj"] });</code>
/// </summary>
[PeftMethod("BEFT", Layer = typeof(BeftLayer), Mergeable = true, StartsAtBase = true, ZooLearningRate = 1e-1)]
public sealed record BeftConfig : PeftConfig
{
    /// <summary>True: β = 0, so the model starts at the base; false: β ~ N(0, 1) (tests).</summary>
    public bool InitWeights { get; init; } = true;

    /// <summary>The zoo's BEFT: every block projection (it has no size: a bias per output feature).</summary>
    public static BeftConfig Preset(AdapterPreset p) => new() { TargetModules = p.Linears, Seed = p.Seed };
}
