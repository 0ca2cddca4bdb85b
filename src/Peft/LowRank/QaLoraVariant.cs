namespace Engine.Peft.LowRank;

/// <summary>
/// QA-LoRA (Xu et al. 2023, "QA-LoRA: Quantization-Aware Low-Rank Adaptation of Large Language Models",
/// arXiv:2309.14717, section 3.3; PEFT's <c>QALoraLinearVariant</c>, lora/variants.py): the adapter's input is
/// average-pooled over consecutive groups of g = qalora_group_size input features and multiplied by in / g, so
/// A is [r, in / g] and y = x W0ᵀ + s B A (in / g · pool(x)). The update is constant within each input group,
/// ΔW[:, j] = s (in / g²) (B A)[:, ⌊j / g⌋], which is what lets the paper fold it into the group-wise zero points of
/// a quantised base. PEFT applies the variant to GPTQ layers only (a float layer ignores use_qalora) and refuses to
/// merge there; the engine has float bases only, applies it to its linear layers and merges by expanding A (exact).
/// </summary>
public sealed class QaLoraVariant(int groupSize) : ILoraVariant
{
    /// <inheritdoc/>
    public (int[] A, int[] B) FactorShapes(LoraLayer layer, int r)
    {
        if (layer.InFeatures % groupSize != 0)
            throw new ArgumentException($"QALoRA: the layer's {layer.InFeatures} input features are not divisible by qalora_group_size {groupSize}");
        return ([r, layer.InFeatures / groupSize], [layer.OutFeatures, r]);
    }

    /// <inheritdoc/>
    public void Init(LoraLayer layer, string name, Generator generator) { }

    /// <inheritdoc/>
    public Tensor? DeltaWeight(LoraLayer layer, string name)
    {
        // A expanded over each group: column j of the expanded A is column ⌊j / g⌋ of A times (in / g) / g.
        var a = layer.LoraA(name);
        int pooled = a.Size(1);
        var expanded = a.Unsqueeze(2).Expand([a.Size(0), pooled, groupSize]).Reshape(a.Size(0), pooled * groupSize) * ((double)pooled / groupSize);
        return layer.LoraB(name) % expanded * layer.Settings(name).Scaling;
    }

    /// <inheritdoc/>
    public Tensor? Contribution(LoraLayer layer, string name, Tensor x)
    {
        int pooled = layer.InFeatures / groupSize;
        var shape = x.Shape;
        // The group means times the number of groups (PEFT's x_pooled * pooled_features).
        var z = x.Reshape([.. shape[..^1], pooled, groupSize]).Mean(-1) * pooled;
        return layer.FactorB(name).Forward(layer.FactorA(name).Forward(z)) * layer.Settings(name).Scaling;
    }
}
