namespace Engine.Peft.LowRank;

/// <summary>
/// Turns an adapter whose initialisation moved s B0 A0 out of the base weight (PiSSA, OLoRA) into a plain LoRA adapter
/// for the original base: W_res + s B A = W + s (B A - B0 A0) = W + s [B, -B0] [A; A0], a rank-2r LoRA
/// (Meng et al. 2024, section 4.4; PEFT's <c>path_initial_model_for_weight_conversion</c>).
/// </summary>
public static class PrincipalInitConversion
{
    /// <summary>The converted config (rank 2r, same scale, default init) and tensors under PEFT's keys.</summary>
    /// <exception cref="NotSupportedException">The adapter uses DoRA, whose magnitude does not convert.</exception>
    public static (LoraConfig Config, Dictionary<string, Tensor> Tensors) ToPlainLora(PeftModel peft, string name, LoraConfig config, Dictionary<string, Tensor> tensors)
    {
        if (config.UseDora) throw new NotSupportedException("PrincipalInitConversion: DoRA adapters with PiSSA/OLoRA initialisation cannot be converted to plain LoRA");
        var converted = new Dictionary<string, Tensor>(tensors, StringComparer.Ordinal);
        foreach (var (path, adapterLayer) in peft.AdapterLayers())
        {
            if (adapterLayer is not LoraLayer layer || !layer.AdapterNames.Contains(name)) continue;
            var (a0, b0) = layer.InitialFactors(name) ?? throw new InvalidOperationException($"PrincipalInitConversion: '{path}' kept no initial factors for '{name}'");
            string key = AdapterFiles.KeyPrefix + peft.Naming.ExternalPath(path) + ".";
            converted[key + "lora_A.weight"] = Tensor.Concat([layer.LoraA(name).Detach(), a0], 0).Contiguous();
            converted[key + "lora_B.weight"] = Tensor.Concat([layer.LoraB(name).Detach(), -b0], 1).Contiguous();
        }
        // Twice the rank at the same scale: alpha doubles (rsLoRA: alpha / sqrt r keeps its value with alpha * sqrt 2).
        double alphaFactor = config.UseRsLora ? Math.Sqrt(2) : 2;
        var plain = config with
        {
            R = 2 * config.R,
            LoraAlpha = config.LoraAlpha * alphaFactor,
            RankPattern = config.RankPattern.ToDictionary(kv => kv.Key, kv => 2 * kv.Value),
            AlphaPattern = config.AlphaPattern.ToDictionary(kv => kv.Key, kv => kv.Value * alphaFactor),
            InitLoraWeights = LoraInit.Default,
        };
        return (plain, converted);
    }
}
