namespace Engine.Peft.LowRank;

/// <summary>
/// LoRA's model-level part: on request, writes an adapter whose initialisation moved s B0 A0 out of the base weight
/// (PiSSA, OLoRA, CorDA, LoRA-GA) as a plain LoRA adapter for the original base: W_res + s B A = W + s [B, -B0] [A; A0], a rank-2r
/// LoRA with alpha doubled (rsLoRA: times sqrt 2) so s is unchanged (Meng et al. 2024, section 4.4; PEFT's
/// <c>path_initial_model_for_weight_conversion</c>). For an aLoRA adapter it also finds the invocation in the token ids
/// of the forward passes (<see cref="AloraOffsets"/>). As a regulariser it adds MonteCLoRA's variational loss
/// (<see cref="MontecloraVariant.ModelLoss"/>).
/// </summary>
public sealed class LoraModelPart(AdapterModelPartContext context) : AdapterModelPart(context), ISaveTransform, ITokenIdsReader, ILossRegularizer
{
    /// <inheritdoc/>
    public Tensor? Regularizer(PeftModel model) => MontecloraVariant.ModelLoss(model, AdapterName);

    /// <inheritdoc/>
    public IDisposable? ReadTokens(PeftModel model, Tensor ids) =>
        model.PeftConfigs.TryGetValue(AdapterName, out var c) && c is LoraConfig { AloraInvocationTokens: { Count: > 0 } invocation }
            ? AloraOffsets.Read(AdapterName, ids, invocation) : null;

    /// <inheritdoc/>
    public (PeftConfig Config, Dictionary<string, Tensor> Tensors) ForSaving(PeftModel model, PeftConfig config, Dictionary<string, Tensor> tensors, bool convertToLora)
    {
        if (!convertToLora || config is not LoraConfig lora || lora.InitLoraWeights is not (LoraInit.Pissa or LoraInit.Olora or LoraInit.Corda or LoraInit.LoraGa)) return (config, tensors);
        if (lora.UseDora) throw new NotSupportedException("LoRA: DoRA adapters with PiSSA/OLoRA/CorDA/LoRA-GA initialisation cannot be converted to plain LoRA");
        var converted = new Dictionary<string, Tensor>(tensors, StringComparer.Ordinal);
        foreach (var (path, adapterLayer) in model.AdapterLayers())
        {
            if (adapterLayer is not LoraLayer layer || !layer.AdapterNames.Contains(AdapterName)) continue;
            var (a0, b0) = layer.InitialFactors(AdapterName) ?? throw new InvalidOperationException($"LoRA: '{path}' kept no initial factors for '{AdapterName}'");
            string key = AdapterFiles.KeyPrefix + model.PathOf(path).External + ".";
            converted[key + "lora_A.weight"] = Tensor.Concat([layer.LoraA(AdapterName).Detach(), a0.To(layer.LoraA(AdapterName).DType)], 0).Contiguous();
            converted[key + "lora_B.weight"] = Tensor.Concat([layer.LoraB(AdapterName).Detach(), -b0.To(layer.LoraB(AdapterName).DType)], 1).Contiguous();
        }
        double alphaFactor = lora.UseRsLora ? Math.Sqrt(2) : 2;
        var plain = lora with
        {
            R = 2 * lora.R,
            LoraAlpha = lora.LoraAlpha * alphaFactor,
            RankPattern = lora.RankPattern.ToDictionary(kv => kv.Key, kv => 2 * kv.Value),
            AlphaPattern = lora.AlphaPattern.ToDictionary(kv => kv.Key, kv => kv.Value * alphaFactor),
            InitLoraWeights = LoraInit.Default,
        };
        return (plain, converted);
    }
}
