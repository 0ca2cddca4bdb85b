namespace Engine.Peft.LowRank;

/// <summary>
/// QA-LoRA (Xu et al. 2023, "QA-LoRA: Quantization-Aware Low-Rank Adaptation of Large Language Models",
/// arXiv:2309.14717, section 3.3; PEFT's <c>QALoraLinearVariant</c>, lora/variants.py): the adapter's input is
/// average-pooled over consecutive groups of g = qalora_group_size input features and multiplied by in / g, so
/// A is [r, in / g] and y = x W0ᵀ + s B A (in / g · pool(x)). The update is constant within each input group,
/// ΔW[:, j] = s (in / g²) (B A)[:, ⌊j / g⌋], which is what lets the paper fold it into the group-wise zero points of
/// a quantised base. PEFT applies the variant to GPTQ layers only (a float layer ignores use_qalora) and refuses to
/// merge there; the engine has float bases only, applies it to its linear layers and merges by expanding A (exact).
/// A PEFT file of a float model with use_qalora holds A [r, in] (PEFT's plain LoRA): that layer loads as plain LoRA
/// (<see cref="AsPeftLoads"/>), so it computes what PEFT computes.
/// </summary>
public sealed class QaLoraVariant(int groupSize) : ILoraVariant
{
    /// <summary>g: input features per pooled group.</summary>
    public int GroupSize { get; } = groupSize;

    /// <inheritdoc/>
    public (int[] A, int[] B) FactorShapes(LoraLayer layer, int r)
    {
        if (layer.InFeatures % GroupSize != 0)
            throw new ArgumentException($"QALoRA: the layer's {layer.InFeatures} input features are not divisible by qalora_group_size {GroupSize}");
        return ([r, layer.InFeatures / GroupSize], [layer.OutFeatures, r]);
    }

    /// <summary>
    /// <paramref name="variant"/>, or null (plain LoRA) for a QA-LoRA layer whose file holds A [r, in]: PEFT ignores
    /// use_qalora on float layers and saves plain LoRA there. With g = 1 both forms are [r, in]: QA-LoRA's is taken.
    /// </summary>
    public static ILoraVariant? AsPeftLoads(ILoraVariant? variant, LoraLayer layer, AdapterContext context) =>
        variant is QaLoraVariant { GroupSize: > 1 } && context.FileShape("lora_A.weight") is [_, var columns] && columns == layer.InFeatures ? null : variant;

    /// <inheritdoc/>
    public void Init(LoraLayer layer, string name, Generator generator) { }

    /// <inheritdoc/>
    public Tensor? DeltaWeight(LoraLayer layer, string name)
    {
        // A expanded over each group: column j of the expanded A is column ⌊j / g⌋ of A times (in / g) / g.
        var a = layer.LoraA(name);
        int pooled = a.Size(1);
        var expanded = a.Unsqueeze(2).Expand([a.Size(0), pooled, GroupSize]).Reshape(a.Size(0), pooled * GroupSize) * ((double)pooled / GroupSize);
        return layer.LoraB(name) % expanded * layer.Settings(name).Scaling;
    }

    /// <inheritdoc/>
    public Tensor? Contribution(LoraLayer layer, string name, Tensor x)
    {
        int pooled = layer.InFeatures / GroupSize;
        var shape = x.Shape;
        // The group means times the number of groups (PEFT's x_pooled * pooled_features).
        var z = x.Reshape([.. shape[..^1], pooled, GroupSize]).Mean(-1) * pooled;
        return layer.FactorB(name).Forward(layer.FactorA(name).Forward(z)) * layer.Settings(name).Scaling;
    }
}
