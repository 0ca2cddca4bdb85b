namespace Engine.Nn;

/// <summary>Shape of a GPT decoder.</summary>
/// <param name="VocabSize">Number of token ids.</param>
/// <param name="ContextLength">Longest sequence (size of the learned position table).</param>
/// <param name="DModel">Width.</param>
/// <param name="Layers">Number of transformer blocks.</param>
/// <param name="Heads">Attention heads.</param>
/// <param name="KvHeads">Key/value heads (grouped-query attention); null means Heads.</param>
/// <param name="MlpRatio">Hidden width of the MLP as a multiple of DModel.</param>
/// <param name="Dropout">Dropout probability.</param>
/// <param name="Rotary">Rotary embeddings instead of learned positions.</param>
/// <param name="TiedHead">The output head reuses the token embedding (GPT-2).</param>
/// <param name="LayerNormEps">LayerNorm epsilon.</param>
/// <param name="GeluTanh">GPT-2's tanh-approximated GELU (gelu_new) instead of the exact one.</param>
/// <param name="Mixers">The token mixer of each layer (<see cref="TokenMixers"/>: "attention", "s4d", "deltaproduct"); null means all attention.</param>
/// <param name="S4DStateSize">State size N of the S4D mixers.</param>
/// <param name="S4DInit">Initialisation of the S4D mixers' A.</param>
/// <param name="DeltaHouseholder">Householder steps per token of "deltaproduct" mixers (n_h; 1 is DeltaNet).</param>
/// <param name="DeltaNegativeEigenvalues">beta in [0, 2] for "deltaproduct" mixers (state tracking needs it).</param>
/// <param name="DeltaForgetGate">The gate of Gated DeltaProduct in "deltaproduct" mixers.</param>
/// <param name="Moe">
/// A mixture-of-experts feed-forward in every block (<see cref="MoeFeedForward"/>, registered as <c>moe</c>, each expert
/// MlpRatio·DModel wide); null means the dense <c>mlp</c>.
/// </param>
/// <param name="ParallelBlocks">Parallel blocks x + mixer(ln1(x)) + feed-forward(ln1(x)) (GPT-J, BAM) instead of sequential pre-norm ones.</param>
public sealed record GptConfig(
    int VocabSize,
    int ContextLength,
    int DModel,
    int Layers,
    int Heads,
    int? KvHeads = null,
    int MlpRatio = 4,
    double Dropout = 0,
    bool Rotary = false,
    bool TiedHead = true,
    double LayerNormEps = 1e-5,
    bool GeluTanh = true,
    string[]? Mixers = null,
    int S4DStateSize = 64,
    S4DInit S4DInit = S4DInit.Lin,
    int DeltaHouseholder = 2,
    bool DeltaNegativeEigenvalues = true,
    bool DeltaForgetGate = false,
    MoeOptions? Moe = null,
    bool ParallelBlocks = false);
