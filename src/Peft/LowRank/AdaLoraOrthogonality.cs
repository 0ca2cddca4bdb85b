namespace Engine.Peft.LowRank;

/// <summary>
/// AdaLoRA's orthogonality regulariser (Zhang et al. 2023, equation 4), as PEFT computes it: the mean over the
/// trainable adapter's matrices of ||Q Q^T - I||_F (each lora_A) and ||P^T P - I||_F (each lora_B), times
/// orth_reg_weight. The adapter's model part adds it to the training loss (<see cref="PeftModel.RegularizationLoss"/>).
/// </summary>
public static class AdaLoraOrthogonality
{
    /// <summary>gamma R(P, Q) for adapter <paramref name="adapterName"/> (the first AdaLoRA adapter by default).</summary>
    public static Tensor Penalty(PeftModel peft, string? adapterName = null)
    {
        var name = adapterName ?? peft.AdapterNames.FirstOrDefault(n => peft.PeftConfigs[n] is AdaLoraConfig)
            ?? throw new InvalidOperationException("AdaLoraOrthogonality: the model has no AdaLoRA adapter");
        var config = (AdaLoraConfig)peft.PeftConfigs[name];
        var terms = new List<Tensor>();
        foreach (var (_, layer) in peft.AdapterLayers())
        {
            if (layer is not AdaLoraLayer ada || !ada.AdapterNames.Contains(name)) continue;
            var q = ada.LoraA(name);
            var p = ada.LoraB(name);
            terms.Add(Deviation(q % q.T));
            terms.Add(Deviation(p.T % p));
        }
        if (terms.Count == 0) throw new InvalidOperationException($"AdaLoraOrthogonality: adapter '{name}' has no AdaLoRA layers");
        return Tensor.Stack(terms.ToArray()).Mean() * config.OrthRegWeight;
    }

    // ||G - I||_F of a square Gram matrix.
    static Tensor Deviation(Tensor gram) => (gram - Tensor.Eye(gram.Size(0), dtype: gram.DType)).Square().Sum().Sqrt();
}
