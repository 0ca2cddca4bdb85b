namespace Engine.Peft.Prompt;

/// <summary>
/// P-tuning's model-level part (PEFT's <c>PromptEncoder</c>, peft/tuners/p_tuning/model.py): while training, the table
/// <c>embedding</c> [n, d] (N(0, 1), an nn.Embedding's default) and the encoder (<c>mlp_head</c>, and <c>lstm_head</c>
/// for the LSTM type, under PEFT's module names) whose output is the prompt P [n, d]; the file holds P
/// (<c>prompt_embeddings</c>, PEFT's <c>get_prompt_embedding_to_save</c>). An adapter loaded from a file (or built with
/// inference_mode) has no encoder: its <c>embedding</c> is P itself, and training it continues as prompt tuning on P,
/// because the file does not hold the encoder (PEFT cannot resume the encoder from its file either).
/// </summary>
public sealed class PTuning : AdapterModelPart, IInputAdapter, ISharedTensorOwner
{
    /// <summary>Creates the table and, for training from scratch, the encoder.</summary>
    public PTuning(AdapterModelPartContext context) : base(context)
    {
        var c = (PTuningConfig)context.Config;
        var table = VirtualTokenInput.Model(context, "PTuning").TokenEmbedding.Weight;
        int d = table.Size(1), h = c.EncoderHiddenSize ?? d;
        var generator = context.CreateGenerator();
        RegisterParameter("embedding", Tensor.Randn([c.NumVirtualTokens, d], 0, 1, table.DType, generator));
        Encoded = !context.FromFile && !c.InferenceMode;
        if (!Encoded) return;
        if (c.EncoderReparameterizationType == "LSTM")
        {
            RegisterModule("lstm_head", new Lstm(d, h, c.EncoderNumLayers, dropout: c.EncoderDropout, bidirectional: true, batchFirst: true, generator: generator).To(table.DType));
            RegisterModule("mlp_head", new Sequential(new Linear(2 * h, 2 * h, true, generator), new ReLU(), new Linear(2 * h, d, true, generator)).To(table.DType));
        }
        else
            RegisterModule("mlp_head", new Sequential(new Linear(d, h, true, generator), new ReLU(), new Linear(h, h, true, generator), new ReLU(),
                new Linear(h, d, true, generator)).To(table.DType));
    }

    /// <summary>True when the prompt comes from the encoder (training from scratch); false when the table is the prompt.</summary>
    public bool Encoded { get; }

    /// <summary>The prompt under its file key, without creating anything: [num_virtual_tokens, width].</summary>
    public static IEnumerable<PlannedTensor> Plan(AdapterModelPartContext context) =>
        [new("prompt_embeddings", [((PTuningConfig)context.Config).NumVirtualTokens, VirtualTokenInput.Model(context, "PTuning").TokenEmbedding.Weight.Size(1)])];

    /// <summary>The table [n, d]: the encoder's input, or the prompt itself when there is no encoder.</summary>
    public Tensor Embedding => GetParameter("embedding");

    /// <inheritdoc/>
    public int VirtualTokens => Embedding.Size(0);

    /// <summary>The prompt P [n, d]: encoder(table) (PEFT's <c>PromptEncoder.forward</c>), or the table.</summary>
    public Tensor Prompt()
    {
        if (!Encoded) return Embedding;
        // The LSTM reads the n virtual tokens as one sequence (batch_first, a batch of one), both directions concatenated.
        var x = Head("lstm_head") is { } lstm ? lstm.Forward(Embedding.Unsqueeze(0)).Select(0, 0) : Embedding;
        return Child("mlp_head").Forward(x);
    }

    /// <inheritdoc/>
    public Tensor Forward(PeftModel model, Tensor input) => VirtualTokenInput.Forward(model, input, Prompt());

    /// <inheritdoc/>
    public KvCache CreateCache(PeftModel model, int batch)
    {
        using var _ = Autograd.Autograd.NoGrad();
        return VirtualTokenInput.CreateCache(model, Prompt(), batch, "PTuning");
    }

    /// <inheritdoc/>
    public IEnumerable<SharedTensor> SharedTensors()
    {
        // The file holds the encoder's output (computed without the LSTM's dropout, so a save does not depend on the
        // training mode; PEFT would apply it when saving in training mode).
        yield return Encoded ? new("prompt_embeddings", EvalPrompt(), true, false) : new("prompt_embeddings", Embedding, true, true);
    }

    Module? Head(string name) => Children().FirstOrDefault(c => c.Name == name).Module;

    Tensor EvalPrompt()
    {
        using var _ = Autograd.Autograd.NoGrad();
        if (Head("lstm_head") is not { Training: true } lstm) return Prompt().Detach();
        lstm.Eval();
        try { return Prompt().Detach(); }
        finally { lstm.Train(); }
    }
}
