namespace Engine.Peft;

/// <summary>
/// The base weight and bias as they were before a layer's first merge, for methods whose update reads the original
/// weight (HiRA's W0 ⊙ BA, GLoRA's W0 ⊙ A and W0 C, and <see cref="WeightAwareAdapterLayer"/>'s ΔW = f(W0): DeFT,
/// PEANuT): every merged adapter's update is computed from this copy, as the
/// unmerged forward computes it from W0, and unmerging the last merged adapter puts the copy back bit for bit. PEFT's
/// HiRA keeps the same copy (<c>_base_weight_before_merge</c>); its GLoRA instead solves W0 = (W − ΣB) / (1 + ΣA),
/// which divides by zero where ΣA = −1 and rounds, so the engine uses the copy for both.
/// </summary>
public sealed class PreMergeSnapshot
{
    Tensor? _weight, _bias;

    /// <summary>True while a copy is held (at least one adapter is merged).</summary>
    public bool Held => _weight is not null;

    /// <summary>The original weight on <paramref name="current"/>'s device and dtype: the copy while one is held, else <paramref name="current"/> itself.</summary>
    public Tensor Weight(Tensor current) => _weight is null ? current : _weight.To(current.Device).To(current.DType);

    /// <summary>The original bias, like <see cref="Weight"/> (null when the layer has none).</summary>
    public Tensor? Bias(Tensor? current) => _bias is null || current is null ? current : _bias.To(current.Device).To(current.DType);

    /// <summary>Called before each merge: the first one (<paramref name="nothingMerged"/>) copies the weight and bias.</summary>
    public void BeforeMerge(bool nothingMerged, Tensor weight, Tensor? bias)
    {
        if (!nothingMerged) return;
        _weight = weight.Detach().Clone();
        _bias = bias?.Detach().Clone();
    }

    /// <summary>
    /// The weights after unmerging one adapter: when it is the last merged one (<paramref name="lastMerged"/>), the
    /// copy (released); otherwise <paramref name="unmerged"/>, the layer's own subtraction of that adapter's update.
    /// </summary>
    public (Tensor Weight, Tensor? Bias) Unmerge(bool lastMerged, Func<(Tensor Weight, Tensor? Bias)> unmerged)
    {
        if (!lastMerged || _weight is null) return unmerged();
        var result = (_weight, _bias);
        (_weight, _bias) = (null, null);
        return result;
    }
}
