namespace Engine.Peft.Prompt;

/// <summary>
/// DePT's model-level part (the reference's <c>PromptEmbeddingLoRA</c>, peft/tuners/prompt_tuning_lora.py): the virtual
/// tokens P [m, d] (<c>prompt_embeddings</c>), A [s, r] (<c>prompt_encoder.lora_embedding_A</c>) and B [r, d]
/// (<c>prompt_encoder.lora_embedding_B</c>, the reference's keys); the forward and decoding cache with P before the input
/// (<see cref="VirtualTokenInput"/>). The position-wise update c·A·B reaches the inputs through
/// <see cref="DeptPositionLayer"/>. See <see cref="DeptConfig"/>.
/// </summary>
public sealed class Dept : AdapterModelPart, IInputAdapter, ISharedTensorOwner, IParamGroupSource
{
    /// <summary>Creates P as prompt tuning does, A Kaiming-uniform and B zero.</summary>
    public Dept(AdapterModelPartContext context) : base(context)
    {
        var c = (DeptConfig)context.Config;
        var table = VirtualTokenInput.Model(context, "DePT").TokenEmbedding.Weight.Detach();
        var generator = context.CreateGenerator();
        RegisterParameter("weight", PromptTuning.InitialEmbeddings(table, c.NumVirtualTokens, context.FromFile ? "RANDOM" : c.PromptTuningInit, c.InitTokenIds, generator, "DeptConfig"));
        RegisterParameter("lora_embedding_A", c.InitLoraWeights ? KaimingInit.Uniform(c.MaxLength, c.R, table.DType, generator) : Tensor.Zeros([c.MaxLength, c.R], table.DType));
        RegisterParameter("lora_embedding_B", Tensor.Zeros([c.R, table.Size(1)], table.DType));
    }

    /// <summary>P, A and B under their file keys, without creating them.</summary>
    public static IEnumerable<PlannedTensor> Plan(AdapterModelPartContext context)
    {
        var c = (DeptConfig)context.Config;
        int d = VirtualTokenInput.Model(context, "DePT").TokenEmbedding.Weight.Size(1);
        var planned = new List<PlannedTensor> { new("prompt_embeddings", [c.NumVirtualTokens, d]) };
        if (c.SaveLoraEmbeddings) planned.AddRange([new(KeyA, [c.MaxLength, c.R]), new(KeyB, [c.R, d])]);
        return planned;
    }

    const string KeyA = "prompt_encoder.lora_embedding_A", KeyB = "prompt_encoder.lora_embedding_B";

    /// <summary>P [m, d].</summary>
    public Tensor Embeddings => GetParameter("weight");

    /// <summary>A [s, r].</summary>
    public Tensor LoraA => GetParameter("lora_embedding_A");

    /// <summary>B [r, d].</summary>
    public Tensor LoraB => GetParameter("lora_embedding_B");

    /// <summary>c·A·B [s, d]: row j is added to the embedding of input position j.</summary>
    public Tensor PositionTable() => LoraA % LoraB * ((DeptConfig)Config).Scaling;

    /// <summary>
    /// The update of the inputs at model positions <paramref name="positions"/> (absolute, P's included: the model's
    /// position ids), [..., d]: c·(A·B)[p − m] for m ≤ p &lt; m + s, zero for P's positions and from m + s on.
    /// </summary>
    public Tensor PositionUpdate(Tensor positions)
    {
        var table = PositionTable();
        int m = VirtualTokens, s = table.Size(0), d = table.Size(1);
        // Rows: m zeros (P), the table, one zero row that every position from m + s on reads.
        var zeros = Tensor.Zeros([m, d], table.DType, table.Device);
        var padded = Tensor.Concat([zeros, table, Tensor.Zeros([1, d], table.DType, table.Device)], 0);
        var ids = positions.To(Device.Cpu).To(DType.Int64).ToArray<long>().Select(p => Math.Min(p, (long)(m + s))).ToArray();
        var rows = padded.IndexSelect(0, Tensor.FromArray(ids).To(table.Device));
        var shape = positions.Shape.Append(d).ToArray();
        return rows.Reshape(shape);
    }

    /// <inheritdoc/>
    public int VirtualTokens => Embeddings.Size(0);

    /// <inheritdoc/>
    public Tensor Forward(PeftModel model, Tensor input) => VirtualTokenInput.Forward(model, input, Embeddings);

    /// <inheritdoc/>
    public KvCache CreateCache(PeftModel model, int batch) => VirtualTokenInput.CreateCache(model, Embeddings, batch, "DePT");

    /// <summary>
    /// The reference's two AdamW groups (train.py): P at <paramref name="lr"/>, A and B at lr · lora_embedding_lr_ratio,
    /// both with the job's weight decay (the reference's transformers AdamW has 0, as the engine's jobs).
    /// </summary>
    public IEnumerable<ParamGroup> ParamGroups(PeftModel model, double lr, double weightDecay)
    {
        var c = (DeptConfig)Config;
        yield return new ParamGroup([Embeddings], lr, weightDecay, $"{AdapterName}.prompt");
        yield return new ParamGroup([LoraA, LoraB], lr * c.LoraEmbeddingLrRatio, weightDecay, $"{AdapterName}.lora_embedding");
    }

    /// <inheritdoc/>
    public IEnumerable<SharedTensor> SharedTensors()
    {
        bool saved = ((DeptConfig)Config).SaveLoraEmbeddings;
        yield return new("prompt_embeddings", Embeddings, true, true);
        yield return new(KeyA, LoraA, saved, true);
        yield return new(KeyB, LoraB, saved, true);
    }
}
