namespace Engine.Peft.Prompt;

/// <summary>
/// Prompt tuning's model-level part: the virtual token embeddings P [n, width] (a parameter, <c>weight</c>), the
/// forward that prepends them (<see cref="IPromptableModel.ForwardWithPrompt"/>: the output covers the real tokens
/// only) and the decoding cache that starts with them.
/// </summary>
public sealed class PromptTuning : AdapterModelPart, IInputAdapter, ISharedTensorOwner
{
    /// <summary>Creates P from the model's token embeddings as the config says.</summary>
    public PromptTuning(AdapterModelPartContext context) : base(context)
    {
        var c = (PromptTuningConfig)context.Config;
        var initial = InitialEmbeddings(Model(context).TokenEmbedding.Weight.Detach(), c.NumVirtualTokens, context.FromFile ? "RANDOM" : c.PromptTuningInit,
            c.InitTokenIds, context.CreateGenerator(), "PromptTuningConfig");
        RegisterParameter("weight", initial);
    }

    /// <summary>
    /// The initial virtual tokens [n, width] from the token embedding <paramref name="table"/>: RANDOM N(0, 1),
    /// SAMPLE_VOCAB rows drawn uniformly, TEXT the rows of <paramref name="initTokenIds"/> repeated or cut to n (PEFT's
    /// PromptEmbedding; DePT's PromptEmbeddingLoRA alike). <paramref name="method"/> names the config in messages.
    /// </summary>
    public static Tensor InitialEmbeddings(Tensor table, int n, string init, IReadOnlyList<long>? initTokenIds, Generator generator, string method)
    {
        int vocab = table.Size(0);
        if (init == "RANDOM") return Tensor.Randn([n, table.Size(1)], 0, 1, table.DType, generator);
        if (init == "SAMPLE_VOCAB")
        {
            var rows = Tensor.Rand([n], 0, 1, DType.Float64, generator).ToDoubleArray().Select(u => Math.Min(vocab - 1, (long)(u * vocab))).ToArray();
            return table.IndexSelect(0, Tensor.FromArray(rows)).Clone();
        }
        if (initTokenIds is not { Count: > 0 } ids) throw new ArgumentException($"{method}: TEXT initialisation needs InitTokenIds (the tokens of prompt_tuning_init_text)");
        if (ids.Any(i => i < 0 || i >= vocab)) throw new ArgumentException($"{method}: InitTokenIds must lie in [0, {vocab})");
        var repeated = Enumerable.Range(0, n).Select(i => ids[i % ids.Count]).ToArray();
        return table.IndexSelect(0, Tensor.FromArray(repeated)).Clone();
    }

    /// <summary>The embeddings [num_virtual_tokens, width] under their file key, without creating them.</summary>
    public static IEnumerable<PlannedTensor> Plan(AdapterModelPartContext context) =>
        [new("prompt_embeddings", [((PromptTuningConfig)context.Config).NumVirtualTokens, Model(context).TokenEmbedding.Weight.Size(1)])];

    static IPromptableModel Model(AdapterModelPartContext context) => context.Model.Model as IPromptableModel
        ?? throw new NotSupportedException($"PromptTuning: prompt tuning needs a model that implements IPromptableModel; {context.Model.Model.GetType().Name} does not");

    /// <summary>P [n, width].</summary>
    public Tensor Embeddings => GetParameter("weight");

    /// <inheritdoc/>
    public int VirtualTokens => Embeddings.Size(0);

    /// <inheritdoc/>
    public Tensor Forward(PeftModel model, Tensor input) => VirtualTokenInput.Forward(model, input, Embeddings);

    /// <inheritdoc/>
    public KvCache CreateCache(PeftModel model, int batch) => VirtualTokenInput.CreateCache(model, Embeddings, batch, "PromptTuning");

    /// <inheritdoc/>
    public IEnumerable<SharedTensor> SharedTensors()
    {
        yield return new("prompt_embeddings", Embeddings, true, true);
    }
}
