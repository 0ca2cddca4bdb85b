namespace Engine.Peft.LowRank;

/// <summary>
/// LoRA+ (Hayou et al. 2024, section 4): the same model trained with a larger learning rate for B than for A,
/// lr_B = ratio * lr_A (ratio about 16), grouped as PEFT's <c>create_loraplus_optimizer</c>: every <c>lora_B</c> and
/// every 1-D trainable parameter (DoRA magnitudes, biases) gets lr * ratio.
/// <code>var opt = new AdamW(LoraPlus.ParamGroups(peft, lr: 1e-4, ratio: 16));</code>
/// </summary>
public static class LoraPlus
{
    /// <summary>Two groups of the trainable parameters: "lora_B" (B and 1-D tensors, lr * ratio) and "default" (the rest, lr).</summary>
    public static IReadOnlyList<ParamGroup> ParamGroups(PeftModel peft, double lr, double ratio = 16, double weightDecay = 0)
    {
        if (!(ratio > 0)) throw new ArgumentOutOfRangeException(nameof(ratio), $"LoraPlus: ratio must be positive, got {ratio}");
        var fast = new HashSet<Tensor>(ReferenceEqualityComparer.Instance);
        foreach (var (_, layer) in peft.AdapterLayers())
            if (layer is LoraLayer lora)
                foreach (var name in lora.AdapterNames) fast.Add(lora.LoraB(name));
        var trainable = peft.TrainableParameters().ToList();
        foreach (var p in trainable) if (p.Rank == 1) fast.Add(p);
        return
        [
            new ParamGroup(trainable.Where(p => !fast.Contains(p)), lr, weightDecay, "default"),
            new ParamGroup(trainable.Where(fast.Contains), lr * ratio, weightDecay, "lora_B"),
        ];
    }
}
