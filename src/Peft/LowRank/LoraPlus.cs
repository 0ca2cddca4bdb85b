namespace Engine.Peft.LowRank;

/// <summary>
/// LoRA+ (Hayou et al. 2024, section 4): the same model trained with a larger learning rate for B than for A,
/// lr_B = ratio * lr_A (ratio about 16), as PEFT's <c>create_loraplus_optimizer</c>.
/// <code>var opt = new AdamW(LoraPlus.ParamGroups(peft, lr: 1e-4, ratio: 16));</code>
/// </summary>
public static class LoraPlus
{
    /// <summary>
    /// Two groups of the trainable parameters: "lora_B" (every B, learning rate <paramref name="lr"/> *
    /// <paramref name="ratio"/>) and "default" (A, DoRA magnitudes, modules_to_save, learning rate <paramref name="lr"/>).
    /// </summary>
    public static IReadOnlyList<ParamGroup> ParamGroups(PeftModel peft, double lr, double ratio = 16, double weightDecay = 0)
    {
        if (ratio <= 0) throw new ArgumentOutOfRangeException(nameof(ratio), $"LoraPlus: ratio must be positive, got {ratio}");
        var b = new HashSet<Tensor>(ReferenceEqualityComparer.Instance);
        foreach (var (_, layer) in peft.AdapterLayers())
            if (layer is LoraLayer lora)
                foreach (var name in lora.AdapterNames) b.Add(lora.LoraB(name));
        var trainable = peft.TrainableParameters().ToList();
        return
        [
            new ParamGroup(trainable.Where(p => !b.Contains(p)), lr, weightDecay, "default"),
            new ParamGroup(trainable.Where(b.Contains), lr * ratio, weightDecay, "lora_B"),
        ];
    }
}
