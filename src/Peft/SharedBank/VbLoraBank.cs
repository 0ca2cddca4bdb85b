namespace Engine.Peft.SharedBank;

/// <summary>
/// VB-LoRA's shared vector bank [N, L] (trainable, U(-init_vector_bank_bound, bound)), one per adapter on the model,
/// under PEFT's key <c>base_model.vblora_vector_bank</c>. When saving with <c>save_only_topk_weights</c> it writes each
/// layer's logits in their top-k form (<see cref="VbLoraTopK.ToFileForm"/>).
/// </summary>
public sealed class VbLoraBank : AdapterModelPart, ISharedTensorOwner, ISaveTransform
{
    /// <summary>The file key of the bank.</summary>
    public const string Key = "base_model.vblora_vector_bank";

    /// <summary>Creates the bank.</summary>
    public VbLoraBank(AdapterModelPartContext context) : base(context)
    {
        var c = (VbLoraConfig)context.Config;
        var dtype = context.Targets.Select(t => t.Module is AdapterLayer l ? l.BaseLayer : (Linear)t.Module).FirstOrDefault()?.Weight.DType ?? DType.Float32;
        RegisterParameter("vblora_vector_bank", Tensor.Rand([c.NumVectors, c.VectorLength], -c.InitVectorBankBound, c.InitVectorBankBound, dtype, context.CreateGenerator()));
    }

    /// <summary>The bank [N, L] under its file key, without creating it.</summary>
    public static IEnumerable<PlannedTensor> Plan(VbLoraConfig c) => [new(Key, [c.NumVectors, c.VectorLength])];

    /// <summary>The bank [N, L].</summary>
    public Tensor Bank => NamedParameters().First(p => p.Name == "vblora_vector_bank").Parameter;

    /// <inheritdoc/>
    public IEnumerable<SharedTensor> SharedTensors() => [new(Key, Bank, true, true)];

    /// <inheritdoc/>
    public (PeftConfig Config, Dictionary<string, Tensor> Tensors) ForSaving(PeftModel model, PeftConfig config, Dictionary<string, Tensor> tensors, bool convertToLora)
    {
        if (config is not VbLoraConfig { SaveOnlyTopkWeights: true } c) return (config, tensors);
        var saved = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (key, t) in tensors)
        {
            if (!VbLoraTopK.IsLogits(key)) { saved[key] = t; continue; }
            var (indices, weights) = VbLoraTopK.ToFileForm(t, c.Topk);
            saved[key + VbLoraTopK.IndicesSuffix] = indices;
            saved[key + VbLoraTopK.WeightsSuffix] = weights;
        }
        return (config, saved);
    }
}
