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
        var factors = new List<(Tensor, bool)>();
        foreach (var (_, layer) in peft.AdapterLayers())
        {
            if (layer is not AdaLoraLayer ada || !ada.AdapterNames.Contains(name)) continue;
            factors.Add((ada.LoraA(name), true));
            factors.Add((ada.LoraB(name), false));
        }
        if (factors.Count == 0) throw new InvalidOperationException($"AdaLoraOrthogonality: adapter '{name}' has no AdaLoRA layers");
        return MeanDeviation(factors) * config.OrthRegWeight;
    }

    /// <summary>
    /// The mean over <paramref name="factors"/> of ||F F^T - I||_F for a row factor (an A, <c>Rows</c> true) and
    /// ||F^T F - I||_F for a column factor (a B): the regulariser AdaLoRA, IncreLoRA (per block) and TriAdaptLoRA
    /// (per module) share (spec adapters-lowrank.md, "Shared mechanisms").
    /// </summary>
    public static Tensor MeanDeviation(IReadOnlyList<(Tensor Factor, bool Rows)> factors)
    {
        if (factors.Count == 0) throw new ArgumentException("AdaLoraOrthogonality.MeanDeviation: no factors");
        return Tensor.Stack(factors.Select(f => Deviation(f.Rows ? f.Factor % f.Factor.T : f.Factor.T % f.Factor)).ToArray()).Mean();
    }

    // ||G - I||_F of a square Gram matrix.
    static Tensor Deviation(Tensor gram) => (gram - Tensor.Eye(gram.Size(0), dtype: gram.DType)).Square().Sum().Sqrt();
}
