namespace Engine.Peft;

/// <summary>
/// Family base of methods that transform the frozen weight rather than add to it — rotations (OFT, BOFT, HRA: W R),
/// scalings (IA3: W diag(l)) — on a <see cref="Linear"/>: y = x T(W0)^T + T(b0), the active adapters' transforms
/// applied in order. A method writes <see cref="Transform"/> and <see cref="InverseTransform"/> and gets the forward,
/// merge and unmerge; it overrides <see cref="AdapterLayer.ForwardAdapters"/> when acting on activations is cheaper.
/// </summary>
public abstract class WeightTransformAdapterLayer : AdapterLayer
{
    /// <summary>Wraps <paramref name="baseLayer"/>.</summary>
    protected WeightTransformAdapterLayer(Linear baseLayer) : base(baseLayer) { }

    /// <summary>The weight [out, in] and bias [out] (or null) transformed by adapter <paramref name="name"/>.</summary>
    public abstract (Tensor Weight, Tensor? Bias) Transform(string name, Tensor weight, Tensor? bias);

    /// <summary>The inverse of <see cref="Transform"/>.</summary>
    public abstract (Tensor Weight, Tensor? Bias) InverseTransform(string name, Tensor weight, Tensor? bias);

    /// <inheritdoc/>
    protected override Tensor ForwardAdapters(Tensor input, IReadOnlyList<string> adapters)
    {
        var (w, b) = (BaseLayer.Weight, BaseLayer.Bias);
        foreach (var name in adapters) (w, b) = Transform(name, w, b);
        var shape = input.Shape;
        shape[^1] = OutFeatures;
        var y = input.Reshape(-1, InFeatures).MatMul(w.T).Reshape(shape);
        return b is null ? y : y + b;
    }

    /// <inheritdoc/>
    public override bool IsMergeable(string name) => true;

    /// <inheritdoc/>
    protected override (Tensor Weight, Tensor? Bias) MergeWeights(string name, Tensor weight, Tensor? bias)
    {
        var (w, b) = Transform(name, weight, bias);
        return (w.Detach(), b?.Detach());
    }

    /// <inheritdoc/>
    protected override (Tensor Weight, Tensor? Bias) UnmergeWeights(string name, Tensor weight, Tensor? bias)
    {
        var (w, b) = InverseTransform(name, weight, bias);
        return (w.Detach(), b?.Detach());
    }
}
