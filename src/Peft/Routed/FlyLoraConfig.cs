namespace Engine.Peft.Routed;

/// <summary>
/// FlyLoRA (Zou et al., NeurIPS 2025, arXiv 2510.08396): LoRA whose A is a frozen sparse random projection that also
/// routes: only the top-k of the r projected values reach the trainable B (an implicit mixture of rank-one experts).
/// Field names and defaults of the reference fork (gfyddha/FlyLoRA <c>peft/src/peft/tuners/lora/config.py</c>:
/// <c>top_k</c>, <c>bias_u</c>; r 32, alpha 64; spec adapters-lowrank.md section 11). Not in Hugging Face PEFT:
/// saved with the engine's peft_type "FLYLORA". A is drawn from <see cref="PeftConfig.Seed"/> and the module's path
/// only, not the adapter's name, so two task adapters of the same seed share A and can be merged by averaging B
/// (<see cref="FlyLoraTaskMerge"/>); files hold A itself, so they reload exactly without the generator.
/// <code>var peft = Peft.Apply(gpt, new FlyLoraConfig { R = 16, TopK = 4, TargetModules = ["qkv"] });</code>
/// </summary>
[PeftMethod("FLYLORA", Layer = typeof(FlyLoraLayer), Mergeable = false, StartsAtBase = true, InPeft = false, ZooLearningRate = 3e-2)]
public sealed record FlyLoraConfig : PeftConfig
{
    /// <summary>Rank r: rows of the frozen A, columns of B.</summary>
    public int R { get; init; } = 32;

    /// <summary>alpha: the update is scaled by alpha / r.</summary>
    public double LoraAlpha { get; init; } = 64;

    /// <summary>k: how many of the r ranks each token activates.</summary>
    public int TopK { get; init; } = 8;

    /// <summary>u: step of the load-balancing bias d (the fork's default 0.01; its scripts use 0.001).</summary>
    public double BiasU { get; init; } = 0.01;

    /// <summary>
    /// Rank the experts by |h + d| (the minimal <c>flylora.py</c>) instead of the signed h + d (the fork's layer, the
    /// engine's default).
    /// </summary>
    public bool TopkByMagnitude { get; init; }

    /// <summary>Dropout probability on the adapter's input.</summary>
    public double LoraDropout { get; init; }

    /// <summary>True when the Hugging Face layer stores its weight [in, out] (GPT-2's Conv1D).</summary>
    public bool FanInFanOut { get; init; }

    /// <summary>s = alpha / r.</summary>
    public double Scaling => LoraAlpha / R;

    /// <inheritdoc/>
    public override void Validate()
    {
        if (R < 1) throw new ArgumentException($"FlyLoraConfig: r must be positive, got {R}");
        if (TopK < 1 || TopK > R) throw new ArgumentException($"FlyLoraConfig: top_k must be in [1, r = {R}], got {TopK}");
        if (!(LoraDropout >= 0 && LoraDropout < 1)) throw new ArgumentException($"FlyLoraConfig: lora_dropout must be in [0, 1), got {LoraDropout}");
        if (!(BiasU >= 0)) throw new ArgumentException($"FlyLoraConfig: bias_u must be non-negative, got {BiasU}");
        RequireFiniteInFloat32("lora_alpha", LoraAlpha);
        RequireFiniteInFloat32("bias_u", BiasU);
    }

    /// <summary>
    /// The zoo's FlyLoRA: r = 2 x size with k = r / 4 (the paper's 32 / 8). B [out, r] alone trains, so its count,
    /// 2 x size x out per layer, is LoRA's size x (in + out) where in = out.
    /// </summary>
    public static FlyLoraConfig Preset(AdapterPreset p) =>
        new() { R = 2 * p.Size, TopK = Math.Max(1, p.Size / 2), LoraAlpha = 4 * p.Size, TargetModules = p.Linears, Seed = p.Seed };
}
