namespace Engine.Nn;

/// <summary>
/// The search space of a <see cref="GptSupernet"/> (TangleNAS's nanoGPT space, <c>search_spaces/nanoGPT/model_search.py</c>):
/// a global embedding width, and per layer a head count and MLP ratio, over a depth choice. Each width must be divisible
/// by each head count.
/// </summary>
/// <param name="VocabSize">Number of token ids.</param>
/// <param name="ContextLength">Longest sequence (the learned position table).</param>
/// <param name="EmbedChoices">Embedding widths, e.g. {32, 48, 64}.</param>
/// <param name="HeadChoices">Attention head counts, e.g. {2, 4}.</param>
/// <param name="MlpRatioChoices">MLP hidden width as a multiple of the width, e.g. {2, 4}.</param>
/// <param name="LayerChoices">Depths, e.g. {2, 3, 4}.</param>
/// <param name="LayerNormEps">LayerNorm epsilon.</param>
public sealed record GptSupernetConfig(int VocabSize, int ContextLength, int[] EmbedChoices, int[] HeadChoices, int[] MlpRatioChoices, int[] LayerChoices, double LayerNormEps = 1e-5)
{
    /// <summary>The names-demo space of the spec (§6): embed {32, 48, 64}, heads {2, 4}, MLP {2, 4}, layers {2, 3, 4}.</summary>
    public static GptSupernetConfig Names(int vocabSize, int contextLength) => new(vocabSize, contextLength, [32, 48, 64], [2, 4], [2, 4], [2, 3, 4]);

    /// <summary>Widest embedding.</summary>
    public int EmbedMax => EmbedChoices.Max();

    /// <summary>Deepest choice: the number of blocks the supernet holds.</summary>
    public int LayersMax => LayerChoices.Max();

    /// <summary>Throws when a choice list is empty, repeats or holds a non-positive size, or a width is not divisible by a head count.</summary>
    /// <exception cref="ArgumentException">The space is not valid.</exception>
    public void Validate()
    {
        if (VocabSize <= 0 || ContextLength <= 0) throw new ArgumentException($"GptSupernetConfig: vocabulary {VocabSize} and context {ContextLength} must be positive");
        foreach (var (name, list) in new[] { ("embed", EmbedChoices), ("heads", HeadChoices), ("mlp ratio", MlpRatioChoices), ("layers", LayerChoices) })
        {
            if (list is null || list.Length == 0) throw new ArgumentException($"GptSupernetConfig: the {name} choices are empty");
            if (list.Any(v => v <= 0)) throw new ArgumentException($"GptSupernetConfig: the {name} choices must be positive, got {{{string.Join(", ", list)}}}");
            if (list.Distinct().Count() != list.Length) throw new ArgumentException($"GptSupernetConfig: the {name} choices repeat, got {{{string.Join(", ", list)}}}");
        }
        foreach (var e in EmbedChoices)
            foreach (var h in HeadChoices)
                if (e % h != 0) throw new ArgumentException($"GptSupernetConfig: embed width {e} is not divisible by {h} heads");
    }
}

/// <summary>One architecture of a <see cref="GptSupernetConfig"/> space: a width, a depth, and each layer's heads and MLP ratio.</summary>
/// <param name="Embed">Embedding width.</param>
/// <param name="Layers">Depth.</param>
/// <param name="Heads">Heads of each of the supernet's blocks (only the first <paramref name="Layers"/> are used).</param>
/// <param name="MlpRatios">MLP ratio of each block (only the first <paramref name="Layers"/> are used).</param>
public sealed record SupernetArchitecture(int Embed, int Layers, int[] Heads, int[] MlpRatios)
{
    /// <summary>E.g. "embed 64, 3 layers, heads [4,2,4], mlp [4,4,2]".</summary>
    public override string ToString() =>
        $"embed {Embed}, {Layers} layers, heads [{string.Join(",", Heads.Take(Layers))}], mlp [{string.Join(",", MlpRatios.Take(Layers))}]";

    /// <summary>A uniformly random architecture of <paramref name="config"/>'s space (the random-search baseline).</summary>
    public static SupernetArchitecture Random(GptSupernetConfig config, Generator generator)
    {
        int n = config.LayersMax;
        var u = Tensor.Rand([2 + 2 * n], dtype: DType.Float64, generator: generator).ToArray<double>();
        int Pick(int[] list, double r) => list[Math.Min(list.Length - 1, (int)(r * list.Length))];
        return new(Pick(config.EmbedChoices, u[0]), Pick(config.LayerChoices, u[1]),
            Enumerable.Range(0, n).Select(i => Pick(config.HeadChoices, u[2 + i])).ToArray(),
            Enumerable.Range(0, n).Select(i => Pick(config.MlpRatioChoices, u[2 + n + i])).ToArray());
    }
}
