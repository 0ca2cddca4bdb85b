using System.Text.Json.Serialization;

namespace Engine.Peft.Prompt;

/// <summary>
/// Cartridges (Eyuboglu et al. 2025, "Cartridges: Lightweight and general-purpose long context representations via
/// self-study", section 4): a trainable KV cache of <see cref="NumVirtualTokens"/> positions for every attention layer,
/// served as prefix tuning's prefixes (no projection), whose first <see cref="NumFrozenTokens"/> positions stay frozen
/// (an attention sink, section 4.2). PEFT's <c>CartridgeConfig</c> (peft/tuners/cartridge/): the file holds
/// <c>prompt_embeddings</c> [n, layers * 2 * kv width], the frozen rows then the trainable ones; the adapter holds the
/// trainable rows under <c>prompt_embeddings</c> and the frozen ones under <c>frozen_embedding</c>
/// (<see cref="IFileFormReader"/> splits a file, saving joins them).
/// <code>var peft = Peft.Apply(gpt, new CartridgeConfig { NumVirtualTokens = 16, InitTokenIds = corpusIds });</code>
/// </summary>
[PeftMethod("CARTRIDGE", ModelPart = typeof(Cartridge), ZooLearningRate = 1e-1)]
public sealed record CartridgeConfig : PeftConfig, IFileFormReader
{
    /// <summary>Number n of cached positions.</summary>
    public int NumVirtualTokens { get; init; } = 10;

    /// <summary>Leading positions that never train (PEFT's default 1, the paper's attention sink).</summary>
    public int NumFrozenTokens { get; init; } = 1;

    /// <summary>PEFT's count of transformer stacks that take the prefixes (1 for decoder-only models).</summary>
    public int NumTransformerSubmodules { get; init; } = 1;

    /// <summary>
    /// Token ids of a text whose KV cache on the base model starts the cartridge (its first n positions; the paper's
    /// initialisation from a corpus, PEFT's <c>initialize_kv_prefix_from_text</c>); null draws N(0, 1) as PEFT's
    /// <c>reset_parameters</c>. The engine's field.
    /// </summary>
    [JsonIgnore]
    public IReadOnlyList<long>? InitTokenIds { get; init; }

    /// <inheritdoc/>
    public override IEnumerable<PlannedTensor> PlanModelPart(AdapterModelPartContext context) => Cartridge.Plan(context);

    /// <inheritdoc/>
    public override void Validate()
    {
        if (NumVirtualTokens < 1) throw new ArgumentException($"CartridgeConfig: num_virtual_tokens must be positive, got {NumVirtualTokens}");
        if (NumFrozenTokens < 0 || NumFrozenTokens > NumVirtualTokens)
            throw new ArgumentException($"CartridgeConfig: num_frozen_tokens must be in [0, num_virtual_tokens = {NumVirtualTokens}], got {NumFrozenTokens}");
        if (InitTokenIds is { } ids && ids.Count < NumVirtualTokens)
            throw new ArgumentException($"CartridgeConfig: InitTokenIds has {ids.Count} tokens, the cartridge needs at least num_virtual_tokens = {NumVirtualTokens}");
    }

    /// <summary>The file holds one tensor, <c>prompt_embeddings</c> [n, width]: the frozen rows, then the trainable ones.</summary>
    public IReadOnlyList<PlannedTensor> FileForm(IReadOnlyList<PlannedTensor> plan, IReadOnlySet<string> fileKeys)
    {
        var trainable = plan.Single(t => t.Key == Cartridge.TrainableKey);
        return [new(Cartridge.FileKey, [NumVirtualTokens, trainable.Shape[1]])];
    }

    /// <summary>Splits the file's prompt_embeddings into the frozen rows and the trainable ones.</summary>
    public Dictionary<string, Tensor> FromFileForm(Dictionary<string, Tensor> file, IReadOnlyList<PlannedTensor> plan)
    {
        var all = file[Cartridge.FileKey];
        var adapter = new Dictionary<string, Tensor>(StringComparer.Ordinal) { [Cartridge.TrainableKey] = all.Narrow(0, NumFrozenTokens, NumVirtualTokens - NumFrozenTokens) };
        if (NumFrozenTokens > 0) adapter[Cartridge.FrozenKey] = all.Narrow(0, 0, NumFrozenTokens);
        return adapter;
    }

    /// <summary>The zoo's cartridge: size positions, the first frozen, from N(0, 1).</summary>
    public static CartridgeConfig Preset(AdapterPreset p) => new() { NumVirtualTokens = p.Size, Seed = p.Seed };
}
