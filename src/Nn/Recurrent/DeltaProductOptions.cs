namespace Engine.Nn;

/// <summary>Options of <see cref="DeltaProduct"/> (Siems et al. 2025, "DeltaProduct"); <c>Householder = 1</c> is DeltaNet.</summary>
/// <param name="DModel">Model width C of the input and the output.</param>
/// <param name="Heads">Number of heads H; each has its own state S [d_k, d_v].</param>
/// <param name="HeadDim">Key and query width d_k per head; null means DModel / Heads.</param>
/// <param name="ValueDim">Value width d_v per head; null means <paramref name="HeadDim"/>.</param>
/// <param name="Householder">n_h: keys, values and betas per token, one generalised Householder step each (Siems et al. 2025).</param>
/// <param name="NegativeEigenvalues">beta = 2 sigmoid(.) in [0, 2] instead of sigmoid(.) in [0, 1], so each factor's eigenvalue 1 - beta lies in [-1, 1] (Grazzi et al. 2024).</param>
/// <param name="ForgetGate">Gated DeltaProduct: the state decays by alpha_t = exp(g_t) per head and token (Yang et al. 2024, Gated DeltaNet).</param>
/// <param name="ConvSize">Kernel of the short causal depthwise convolutions on q, k, v; 0 turns them off.</param>
/// <param name="OutputGate">Multiply the normalised output by SiLU(W_g x) per channel.</param>
/// <param name="Mode">Recurrent (reference) or chunk-parallel computation of the recurrence.</param>
/// <param name="ChunkSize">Chunk length of the chunk-parallel form, counted in Householder steps (n_h per token).</param>
/// <param name="NormEps">Epsilon of the per-head output RMSNorm.</param>
public sealed record DeltaProductOptions(
    int DModel,
    int Heads,
    int? HeadDim = null,
    int? ValueDim = null,
    int Householder = 1,
    bool NegativeEigenvalues = false,
    bool ForgetGate = false,
    int ConvSize = 4,
    bool OutputGate = true,
    DeltaRuleMode Mode = DeltaRuleMode.Chunked,
    int ChunkSize = 64,
    double NormEps = 1e-5);
