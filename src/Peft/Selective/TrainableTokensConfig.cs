namespace Engine.Peft.Selective;

/// <summary>
/// Trainable tokens (PEFT's <c>TrainableTokensConfig</c>, src/peft/tuners/trainable_tokens): only the embedding rows
/// of <see cref="TokenIndices"/> train, held as the full new rows <c>&lt;emb&gt;.trainable_tokens_delta</c> [k, dim]
/// (not a difference) that replace the base rows in every lookup; a head tied to the embedding uses the same rows
/// (GPT-2's lm_head). Merging writes the rows; several adapters need disjoint indices to run or merge together.
/// target_modules defaults to the input embedding (PEFT asks the model for it; here the usual names of input
/// embeddings: GPT-2's <c>wte</c>, the engine GPT's <c>tok</c>, LLaMA's <c>embed_tokens</c>, BERT's <c>word_embeddings</c>).
/// <code>var peft = Peft.Apply(gpt, new TrainableTokensConfig { TokenIndices = [5, 17] });</code>
/// </summary>
[PeftMethod("TRAINABLE_TOKENS", Layer = typeof(TrainableTokensLayer), Wraps = [typeof(Embedding)], Mergeable = true, StartsAtBase = true,
    CliName = "trainable_tokens", ZooLearningRate = 3e-2)]
public sealed record TrainableTokensConfig : PeftConfig
{
    /// <summary>The default target_modules: names of input embeddings.</summary>
    public static readonly ModuleSelector InputEmbeddings = ["wte", "tok", "embed_tokens", "word_embeddings"];

    /// <summary>A configuration on the model's input embedding.</summary>
    public TrainableTokensConfig() => TargetModules = InputEmbeddings;

    /// <summary>The token ids whose rows train (distinct).</summary>
    public IReadOnlyList<int> TokenIndices { get; init; } = [];

    /// <summary>True: the rows start as copies of the base rows (the model starts at the base); false: N(0, 1) rows.</summary>
    public bool InitWeights { get; init; } = true;

    /// <inheritdoc/>
    public override void Validate()
    {
        if (TargetModules is null) throw new ArgumentException("TrainableTokensConfig: target_modules is required (the embedding whose rows train)");
        if (TokenIndices.Count == 0) throw new ArgumentException("TrainableTokensConfig: token_indices must list at least one token id");
        if (TokenIndices.Any(i => i < 0)) throw new ArgumentException($"TrainableTokensConfig: token_indices must be non-negative, got {TokenIndices.Min()}");
        if (TokenIndices.Distinct().Count() != TokenIndices.Count) throw new ArgumentException("TrainableTokensConfig: token_indices must be distinct");
    }

    /// <summary>The zoo's trainable tokens: the first 4 size token ids (the names job's vocabulary is small).</summary>
    public static TrainableTokensConfig Preset(AdapterPreset p) => new() { TokenIndices = Enumerable.Range(0, 4 * p.Size).ToList(), Seed = p.Seed };
}
