namespace Engine.Nn;

/// <summary>
/// Settings of <see cref="MmrlPlusPlus"/> in its text-only form (spec seeds-remaining.md §5): n representation tokens
/// of width d_r, inserted after [CLS] at the encoder layers from <paramref name="FirstLayer"/> on (0-based; MiniLM's
/// layers 4–6 of 6 are 3..5), composed progressively with weight β, the LoRA rank of the representation head, and the
/// loss weights α (class vs representation logits) and λ (the zero-shot consistency terms).
/// </summary>
/// <param name="Tokens">n (5).</param>
/// <param name="SharedWidth">d_r (256 in the text form; CLIP's 512).</param>
/// <param name="FirstLayer">The first insertion layer, 0-based (3: the upper half of MiniLM's six).</param>
/// <param name="Beta">β of <c>rep_in = β P_i(R) + (1 − β) rep_out_prev</c> (0.9).</param>
/// <param name="HeadRank">The rank of the LoRA on the identity that projects the representation features (16).</param>
/// <param name="Alpha">α of <c>α CE_c + (1 − α) CE_r</c> and of the decoupled inference (0.7).</param>
/// <param name="Lambda">λ of the consistency terms (1.0).</param>
/// <param name="Scale">The logit scale (CLIP's 100).</param>
public sealed record MmrlConfig(int Tokens = 5, int SharedWidth = 256, int FirstLayer = 3, double Beta = 0.9, int HeadRank = 16,
    double Alpha = 0.7, double Lambda = 1.0, double Scale = 100);
