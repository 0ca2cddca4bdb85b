namespace Engine.Nn;

/// <summary>
/// The two trained factors of one low-rank product B A (A [r, k] "down", B [m, r] "up"), as a pair-aware optimiser
/// (<see cref="AdamWr"/>) needs them: the Gram matrices of the whole factors precondition each factor's gradient.
/// When only part of a factor trains (B4M's partly learnable projections keep half of A's columns and half of B's rows
/// frozen), <see cref="A"/> and <see cref="B"/> are the trained parts and <see cref="FullA"/>/<see cref="FullB"/> give
/// the whole factors [r, in] and [out, r]. Preconditioning acts on A's columns and B's rows independently, so
/// preconditioning the trained part equals preconditioning the whole gradient and keeping that part.
/// </summary>
/// <param name="A">The trained down factor (or its trained columns) [r, k].</param>
/// <param name="B">The trained up factor (or its trained rows) [m, r].</param>
/// <param name="FullA">The whole down factor [r, in] for the Gram A Aᵀ; null: <paramref name="A"/> itself.</param>
/// <param name="FullB">The whole up factor [out, r] for the Gram BᵀB; null: <paramref name="B"/> itself.</param>
public sealed record LowRankFactorPair(Tensor A, Tensor B, Func<Tensor>? FullA = null, Func<Tensor>? FullB = null);
