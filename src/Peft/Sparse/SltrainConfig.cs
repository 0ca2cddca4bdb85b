namespace Engine.Peft.Sparse;

/// <summary>
/// SLTrain (Han et al. 2024, arXiv 2406.02214; andyjm3/SLTrain <c>splora/splora_linear.py</c>; adapters-other.md §3):
/// the weight of a Linear is parameterised as W = B·(s·A) + S, a low-rank product plus a sparse matrix S whose support
/// Ω (⌊δ·in·out⌋ flat row-major positions drawn at random once) never changes; y = x Wᵀ + b. The paper pre-trains with
/// it and keeps no W0 (<see cref="ReplaceWeight"/> true, the default); the reference code has no fine-tuning variant,
/// the engine offers one (<see cref="ReplaceWeight"/> false: W = W0 + sBA + S, starting at the base). PEFT has no such
/// method: the files use PEFT's layout with the engine's <c>peft_type</c> "SLTRAIN" and save Ω as an integer tensor
/// next to its values (the sparse storage). <c>engine train --sltrain</c> pre-trains the names GPT this way with
/// <see cref="SltrainLinear"/> modules that hold no W0 at all.
/// <code>var peft = Peft.Apply(gpt, new SltrainConfig { R = 8, LoraAlpha = 16, SpRatio = 0.03, TargetModules = ["qkv", "mlp.fc"] });</code>
/// </summary>
[PeftMethod("SLTRAIN", Layer = typeof(SltrainLayer), Mergeable = true, StartsAtBase = false, InPeft = false, ZooLearningRate = 1e-2)]
public sealed record SltrainConfig : PeftConfig
{
    /// <summary>Rank r of B [out, r] and A [r, in] (the reference's default 128).</summary>
    public int R { get; init; } = 128;

    /// <summary>α of the low-rank scale s = α / r (the reference's default 32).</summary>
    public double LoraAlpha { get; init; } = 32;

    /// <summary>Density δ of the sparse part: |Ω| = ⌊δ·in·out⌋, in (0, 1) (the reference's default 0.01; its scripts use 0.03).</summary>
    public double SpRatio { get; init; } = 0.01;

    /// <summary>
    /// When true the scale is tanh θ with a trainable θ (<c>sltrain_scaling</c>, init 1), the reference's
    /// <c>trainable_scaling</c>; otherwise s = α / r.
    /// </summary>
    public bool TrainableScaling { get; init; }

    /// <summary>
    /// True (the paper's pre-training form): the wrapped weight and bias are ignored, y = x (sBA + S)ᵀ + b with the
    /// adapter's own bias b (<c>sltrain_bias</c>, when the Linear has one) and the reference's initialisation
    /// (A kaiming(√5), B = 0, values U(±1/√in), b U(±1/√out)). False (the engine's fine-tuning form): y = x (W0 + sBA + S)ᵀ + b0
    /// with values 0, so the model starts at the base.
    /// </summary>
    public bool ReplaceWeight { get; init; } = true;

    /// <inheritdoc/>
    public override void Validate()
    {
        if (R < 1) throw new ArgumentException($"SltrainConfig: r must be positive, got {R}");
        if (!double.IsFinite(LoraAlpha)) throw new ArgumentException($"SltrainConfig: lora_alpha must be finite, got {LoraAlpha}");
        if (!(SpRatio > 0 && SpRatio < 1)) throw new ArgumentException($"SltrainConfig: sp_ratio must be in (0, 1), got {SpRatio}");
    }

    /// <summary>
    /// The zoo's SLTrain fine-tunes a trained names GPT, so it uses the additive form (<see cref="ReplaceWeight"/> false,
    /// starting at the base): rank = size on every projection, α = 2·size as LoRA's preset, δ = 0.01 (the reference's
    /// default), so its trainable count is LoRA's plus about 1 % of each matrix.
    /// </summary>
    public static SltrainConfig Preset(AdapterPreset p) => new()
    {
        R = p.Size, LoraAlpha = 2 * p.Size, SpRatio = 0.01, ReplaceWeight = false, TargetModules = p.Linears, Seed = p.Seed,
    };
}
