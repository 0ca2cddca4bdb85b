namespace Engine.Nn;

/// <summary>
/// The token mixers a <see cref="Gpt"/> layer can use, by the names of <see cref="GptConfig.Mixers"/>, and the one place
/// that builds them: <c>attention</c> (<see cref="MultiHeadAttention"/>, registered as <c>attn</c>), <c>s4d</c>
/// (<see cref="S4DLayer"/>, registered as <c>s4d</c>) and <c>deltaproduct</c> (<see cref="DeltaProduct"/>, registered as <c>delta</c>).
/// </summary>
public static class TokenMixers
{
    /// <summary>Multi-head causal self-attention.</summary>
    public const string Attention = "attention";

    /// <summary>The diagonal state-space layer S4D.</summary>
    public const string S4D = "s4d";

    /// <summary>DeltaNet / DeltaProduct (issue 5).</summary>
    public const string DeltaProduct = "deltaproduct";

    /// <summary>The mixer names a config may use.</summary>
    public static readonly IReadOnlyList<string> Kinds = [Attention, S4D, DeltaProduct];

    /// <summary>Sub-module name of an attention mixer (GPT-2's <c>blocks.{i}.attn.*</c>).</summary>
    public const string AttentionSlot = "attn";

    /// <summary>Sub-module name of an S4D mixer (<c>blocks.{i}.s4d.*</c>).</summary>
    public const string S4DSlot = "s4d";

    /// <summary>Sub-module name of a DeltaProduct mixer (<c>blocks.{i}.delta.*</c>).</summary>
    public const string DeltaProductSlot = "delta";

    /// <summary>The mixer of each layer of <paramref name="config"/>: its <see cref="GptConfig.Mixers"/>, or all attention.</summary>
    public static IReadOnlyList<string> Resolve(GptConfig config)
    {
        var mixers = config.Mixers ?? Enumerable.Repeat(Attention, config.Layers).ToArray();
        if (mixers.Length != config.Layers)
            throw new ArgumentException($"GptConfig: Mixers lists {mixers.Length} mixers for {config.Layers} layers");
        foreach (var kind in mixers)
            if (!Kinds.Contains(kind))
                throw new ArgumentException($"GptConfig: unknown token mixer '{kind}'; valid mixers are {string.Join(", ", Kinds)}");
        return mixers;
    }

    /// <summary>Builds the mixer <paramref name="kind"/> for a layer of <paramref name="config"/>, with its sub-module name.</summary>
    public static (string Slot, Module Mixer) Create(string kind, GptConfig config, Generator? generator = null) => kind switch
    {
        Attention => (AttentionSlot, new MultiHeadAttention(
            new AttentionOptions(config.DModel, config.Heads, config.KvHeads, Causal: true, Rotary: config.Rotary, Dropout: config.Dropout), generator)),
        S4D => (S4DSlot, new S4DLayer(config.DModel, config.S4DStateSize, config.S4DInit, S4DDiscretization.Zoh, glu: true, config.Dropout, generator)),
        DeltaProduct => (DeltaProductSlot, new DeltaProduct(
            new DeltaProductOptions(config.DModel, config.Heads, Householder: config.DeltaHouseholder,
                NegativeEigenvalues: config.DeltaNegativeEigenvalues, ForgetGate: config.DeltaForgetGate), generator)),
        _ => throw new ArgumentException($"TokenMixers: unknown token mixer '{kind}'; valid mixers are {string.Join(", ", Kinds)}"),
    };
}
