namespace Engine.Peft.LowRank;

/// <summary>
/// The partly learnable projection (PLP) LoRA of Break-for-Make (B4M; Xu et al. 2024, "Break-for-Make: Modular Low-Rank
/// Adaptations for Composable Content-Style Customization"; reference ICTMCG/Break-for-make
/// <c>src/diffusers/models/lora.py::LoRALinearLayer</c>, <c>code/train_content.py</c>; spec seeds-remaining.md §2):
/// ΔW = s B A with A [r, in], B [out, r], where the first half of A's input columns, A[:, :in/2], and the first half of
/// B's output rows, B[:out/2, :], never train (the reference zeroes their gradients with hooks; here they are frozen
/// tensors of their own, <see cref="PlpLoraLayer"/>). Init: A ~ N(0, (1/r)²), B = 0; with <see cref="Orth"/> on a module
/// with in = out, Q [n, r] with orthonormal columns and two disjoint random row sets I1, I2 of size in/2 give
/// A[:, :in/2] = Q[I1]ᵀ and B[:in/2, :] = Q[I2], so ΔW ≠ 0 at initialisation, as released. s = α/r when
/// <see cref="LoraAlpha"/> is set (the reference's <c>network_alpha</c>), else 1. Training (break, make, stage 2) is in
/// <see cref="BreakForMake"/>. PEFT has no such method: peft_type "PLP_LORA" in PEFT's layout.
/// <code>var peft = Peft.Apply(gpt, new PlpLoraConfig { R = 4, TargetModules = ["qkv", "attn.proj"], InitName = "b4m" }, "content");</code>
/// </summary>
[PeftMethod("PLP_LORA", Layer = typeof(PlpLoraLayer), Mergeable = true, StartsAtBase = false, InPeft = false, ZooLearningRate = 1e-2)]
public sealed record PlpLoraConfig : PeftConfig
{
    /// <summary>Rank r of the update B A (the reference trains rank 64 on SDXL).</summary>
    public int R { get; init; } = 8;

    /// <summary>α: the update is scaled by α / r when set (the reference's <c>network_alpha</c>); null (the reference's default) scales by 1.</summary>
    public double? LoraAlpha { get; init; }

    /// <summary>
    /// The orthogonal initialisation of the frozen halves on modules with in = out (the reference passes <c>orth=True</c>
    /// for the UNet's q, k and v projections; cross-attention k and v have in ≠ out and stay Gaussian).
    /// </summary>
    public bool Orth { get; init; } = true;

    /// <summary>
    /// Engine extension: with <see cref="Orth"/>, also initialise the frozen halves of modules with in ≠ out
    /// orthogonally, I1 of size in/2 for A[:, :in/2] = Q[I1]ᵀ and I2 of size out/2 for B[:out/2, :] = Q[I2]. The
    /// reference's rule is in = out only (its q, k and v are square); a fused [3d, d] qkv projection is not, so without
    /// this its frozen half of B stays zero and a content run's A half reaches the output only through the trained B half.
    /// </summary>
    public bool OrthAllModules { get; init; }

    /// <summary>
    /// Rows n of the orthonormal basis Q [n, r] (the reference fixes 1280, SDXL's widest attention); null takes
    /// n = max(in, in/2 + out/2), so on a square module I1 ∪ I2 covers every row of Q and [A[:, :in/2]ᵀ; B[:out/2, :]]
    /// has orthonormal columns. Must be at least in/2 + out/2 and at least r on every module the orthogonal
    /// initialisation applies to.
    /// </summary>
    public int? OrthBasisSize { get; init; }

    /// <summary>
    /// The adapter name whose random stream draws the initialisation, or null for the adapter's own. Adapters with the
    /// same seed and init_name start identical on every module, as the reference's content and style runs do (both
    /// seed 0), so their frozen halves agree and the make step combines halves trained around the same frozen ones.
    /// </summary>
    public string? InitName { get; init; }

    /// <summary>The scale s: α / r, or 1 without α.</summary>
    public double Scaling => LoraAlpha is { } alpha ? alpha / R : 1;

    /// <inheritdoc/>
    public override void Validate()
    {
        if (R < 1) throw new ArgumentException($"PlpLoraConfig: r must be positive, got {R}");
        if (LoraAlpha is { } alpha) RequireFiniteInFloat32("lora_alpha", alpha);
        if (OrthBasisSize is < 1) throw new ArgumentException($"PlpLoraConfig: orth_basis_size must be positive, got {OrthBasisSize}");
    }

    /// <summary>The zoo's PLP LoRA: rank = size on every block projection, scale 1 (the reference has no α), orthogonal frozen halves where in = out.</summary>
    public static PlpLoraConfig Preset(AdapterPreset p) => new() { R = p.Size, TargetModules = p.Linears, Seed = p.Seed };
}
