using System.Text.Json.Serialization;

namespace Engine.Peft.Tucker;

/// <summary>
/// FLoRA (Si et al. 2024, arXiv 2405.14739; SJTU-DeepVisionLab/FLoRA <c>flora/layers.py</c>; spec adapters-lowrank.md
/// section 8): a low-rank Tucker core G and one factor per weight mode, ΔW = s · (G ×_1 P0 ×_2 P1 …) with the first two
/// modes [in, out] swapped to [out, in] (<see cref="TuckerProduct"/>). The engine's Nn has no convolution module, so
/// only Linear layers are adapted (N = 2: ΔW = s · P1 Gᵀ P0ᵀ); the N-dimensional product is written once and tested on a
/// 4-mode kernel. The reference code's field names (its <c>flora_cfg</c>: N, r, scale, drop_rate) and defaults
/// (r [8, 8], scale 1). The two NLP forms of Chongjie-Si/Subspace-Tuning are variants of the same tensors with
/// P0 = Aᵀ, P1 = B, G = Eᵀ (<see cref="InitWeights"/>): "flora-loralib" (<c>loralib/layers_flora.py</c>) and
/// "flora-peft" (<c>CR_MR/peft/src/peft/tuners/flora.py</c>). PEFT has no FLoRA: the engine's <c>peft_type</c> "FLORA".
/// <code>var peft = Peft.Apply(gpt, new FloraConfig { R = [4, 4], Scale = 2, TargetModules = ["qkv"] });</code>
/// </summary>
[PeftMethod("FLORA", Layer = typeof(FloraLayer), Mergeable = true, StartsAtBase = true, InPeft = false, ZooLearningRate = 1e-2,
    Variants = ["flora-loralib: init_weights=\"loralib\"", "flora-peft: init_weights=\"peft\""],
    VariantLearningRates = ["flora-loralib: 3e-2", "flora-peft: 3e-2"])]
public sealed record FloraConfig : PeftConfig
{
    /// <summary>Number of weight modes (the reference's <c>N</c>): 2 for a Linear, the only kind the engine adapts.</summary>
    [JsonPropertyName("N")]
    public int N { get; init; } = 2;

    /// <summary>The core's rank per mode, [r_in, r_out] for a Linear (the reference's list form of <c>r</c>).</summary>
    public IReadOnlyList<int> R { get; init; } = [8, 8];

    /// <summary>The scale s of <see cref="InitWeights"/> "flora" and "random" (the reference's <c>scale</c>, default 1; its conv example 4).</summary>
    public double Scale { get; init; } = 1.0;

    /// <summary>alpha of the NLP forms: s = alpha / (r + 1e-5) ("loralib") or alpha / r ("peft"); loralib's default 1.</summary>
    public double LoraAlpha { get; init; } = 1.0;

    /// <summary>Dropout probability on the adapter's input (the reference's <c>drop_rate</c>).</summary>
    public double DropRate { get; init; }

    /// <summary>
    /// The start and the scale rule. All but "random" start with G = 0, so the model starts at the base.
    /// "flora": P_i ~ kaiming_normal(a = √3) = N(0, 1/(2 r_i)), s = <see cref="Scale"/> (the reference's init_parameters).
    /// "loralib": P0, P1 ~ N(0, 0.02²), s = lora_alpha / (r + 1e-5). "peft": A = P0ᵀ and B = P1 Kaiming-uniform (a = √5),
    /// s = lora_alpha / r (both need r_in = r_out). "random": as "flora" with G drawn like the factors (the reference's
    /// commented-out line; tests).
    /// </summary>
    public string InitWeights { get; init; } = "flora";

    /// <summary>The scale s of a module with ranks <paramref name="ranks"/>.</summary>
    public double Scaling(IReadOnlyList<int> ranks) => InitWeights switch
    {
        "loralib" => LoraAlpha / (ranks[0] + 1e-5),
        "peft" => LoraAlpha / ranks[0],
        _ => Scale,
    };

    /// <inheritdoc/>
    public override void Validate()
    {
        if (N != 2) throw new NotSupportedException($"FloraConfig: N = {N}; the engine adapts Linear layers only (its Nn has no convolution), so N must be 2");
        if (R is null || R.Count != N) throw new ArgumentException($"FloraConfig: r must list {N} ranks (one per weight mode), got [{string.Join(", ", R ?? [])}]");
        if (R.Any(r => r < 1)) throw new ArgumentException($"FloraConfig: every rank in r must be positive, got [{string.Join(", ", R)}]");
        RequireFiniteInFloat32("scale", Scale);
        RequireFiniteInFloat32("lora_alpha", LoraAlpha);
        if (!(DropRate >= 0 && DropRate < 1)) throw new ArgumentException($"FloraConfig: drop_rate must be in [0, 1), got {DropRate}");
        if (InitWeights is not ("flora" or "loralib" or "peft" or "random"))
            throw new ArgumentException($"FloraConfig: init_weights '{InitWeights}' is not one of flora, loralib, peft, random");
        if (InitWeights is "loralib" or "peft" && R[0] != R[1])
            throw new ArgumentException($"FloraConfig: init_weights '{InitWeights}' is the NLP form B E A with a square E, so r must be [r, r], got [{R[0]}, {R[1]}]");
    }

    /// <summary>
    /// The zoo's FLoRA: ranks [size, size] on every block projection, s = 2 (alpha = 2 size for the NLP variants), as
    /// LoRA's preset. Trainable count size·(in + out) + size² per matrix: LoRA's plus the size² core.
    /// </summary>
    public static FloraConfig Preset(AdapterPreset p) => new()
    {
        R = [p.Size, p.Size], Scale = 2, LoraAlpha = 2 * p.Size, TargetModules = p.Linears, Seed = p.Seed,
    };
}
