namespace Engine.Peft.RandomBasis;

/// <summary>
/// NOLA (Koohpayegani et al., ICLR 2024, arXiv 2310.02556; UCDvision/NOLA <c>gpt/src/model_nola.py</c>, spec
/// adapters-other.md §1): the LoRA factors are linear combinations of frozen random bases,
/// A = A0 + Σ_i α_i P_i and B = Σ_j β_j Q_j, and only the 2k mixing coefficients of each layer train, whatever the
/// rank and width. The LLM form: y = x W0^T + b0 + (lora_alpha / r) dropout(x) A^T B^T, α = β = 0 at the start (ΔW = 0).
/// Field names of the reference PEFT fork (<c>llama/qlora/peft/tuners/lora.py</c>: <c>r</c>, <c>lora_alpha</c>,
/// <c>lora_dropout</c>, <c>nola_num_basis</c>) plus <c>nola_seed</c>: the frozen bases and A0 are never saved, they are
/// regenerated from this seed with the engine's own <see cref="Generator"/> (<see cref="NolaBases"/>), so a file
/// holds only the coefficients and reloads exactly. Not in PEFT: <c>peft_type</c> "NOLA".
/// <code>var peft = Peft.Apply(gpt, new NolaConfig { R = 8, NolaNumBasis = 128, TargetModules = ["qkv"] });</code>
/// </summary>
[PeftMethod("NOLA", Layer = typeof(NolaLayer), Mergeable = true, StartsAtBase = true, InPeft = false, ZooLearningRate = 3e-2)]
public sealed record NolaConfig : PeftConfig
{
    /// <summary>Rank r of the assembled LoRA factors A [r, in] and B [out, r].</summary>
    public int R { get; init; } = 8;

    /// <summary>The update is scaled by lora_alpha / r.</summary>
    public double LoraAlpha { get; init; } = 8;

    /// <summary>Number k of random bases of each factor (the trainable count per layer is 2k).</summary>
    public int NolaNumBasis { get; init; } = 128;

    /// <summary>Dropout probability on the adapter's input.</summary>
    public double LoraDropout { get; init; }

    /// <summary>
    /// Seed of every frozen tensor (A0 and the bases P, Q): each layer's three tensors come from generators derived
    /// from this seed and the layer's module path (<see cref="NolaBases.SeedFor"/>). The reference draws one
    /// torch seed per layer and factor and saves it as a tensor; the engine saves this one number in the config.
    /// </summary>
    public ulong NolaSeed { get; init; }

    /// <inheritdoc/>
    public override void Validate()
    {
        if (R < 1) throw new ArgumentException($"NolaConfig: r must be positive, got {R}");
        if (NolaNumBasis < 1) throw new ArgumentException($"NolaConfig: nola_num_basis must be positive, got {NolaNumBasis}");
        if (!(LoraDropout >= 0 && LoraDropout < 1)) throw new ArgumentException($"NolaConfig: lora_dropout must be in [0, 1), got {LoraDropout}");
        RequireFiniteInFloat32("lora_alpha", LoraAlpha);
    }

    /// <summary>
    /// The zoo's NOLA: rank = size with LoRA's scale 2, and k = 16 x size bases per factor (128, the PEFT fork's
    /// default, at size 8): 2k = 256 coefficients per layer, a fraction of rank-size LoRA's r (in + out).
    /// </summary>
    public static NolaConfig Preset(AdapterPreset p) =>
        new() { R = p.Size, LoraAlpha = 2 * p.Size, NolaNumBasis = 16 * p.Size, TargetModules = p.Linears, NolaSeed = p.Seed, Seed = p.Seed };
}
