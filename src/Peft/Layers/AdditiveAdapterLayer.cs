namespace Engine.Peft;

/// <summary>
/// Family base of methods that add a change of the weight to a frozen <see cref="Linear"/>: y = x W0^T + b0 + sum over
/// active adapters of x_a ΔW_a^T, with x_a the adapter's dropout of x. A method writes <see cref="DeltaWeight"/> and
/// gets the forward, merge (W0 + ΔW) and unmerge; it overrides <see cref="Contribution"/> when a factored form is
/// cheaper than forming ΔW (LoRA's B(A x)).
/// </summary>
public abstract class AdditiveAdapterLayer : AdapterLayer
{
    /// <summary>Wraps <paramref name="baseLayer"/>.</summary>
    protected AdditiveAdapterLayer(Linear baseLayer) : base(baseLayer) { }

    /// <summary>The additive change of the base weight [out, in] that adapter <paramref name="name"/> stands for.</summary>
    public abstract Tensor DeltaWeight(string name);

    /// <summary>The adapter's addition to the output for its (dropped-out) input <paramref name="x"/> [..., in]: x ΔW^T.</summary>
    protected virtual Tensor Contribution(string name, Tensor x) => LinearMap(x, DeltaWeight(name));

    /// <inheritdoc/>
    protected override Tensor ForwardAdapters(Tensor input, IReadOnlyList<string> adapters)
    {
        var result = BaseLayer.Forward(input);
        foreach (var name in adapters)
            if (!SkipsThisCall(name)) result = result + Contribution(name, Dropout(name, input));
        return result;
    }

    /// <summary>
    /// True when adapter <paramref name="name"/> sits out this forward call (LyCORIS's module dropout drops whole
    /// adapters in training); never by default. Called once per adapter and call, so it may draw a random number.
    /// </summary>
    protected virtual bool SkipsThisCall(string name) => false;

    /// <inheritdoc/>
    public override bool IsMergeable(string name) => true;

    /// <inheritdoc/>
    protected override (Tensor Weight, Tensor? Bias) MergeWeights(string name, Tensor weight, Tensor? bias) => (weight + DeltaWeight(name).Detach(), bias);

    /// <inheritdoc/>
    protected override (Tensor Weight, Tensor? Bias) UnmergeWeights(string name, Tensor weight, Tensor? bias) => (weight - DeltaWeight(name).Detach(), bias);

    /// <summary>x W^T for x [..., in] and W [out, in], as one matrix product over the flattened leading dimensions.</summary>
    protected static Tensor LinearMap(Tensor x, Tensor weight)
    {
        var shape = x.Shape;
        int rows = shape[..^1].Aggregate(1, (a, b) => a * b);
        shape[^1] = weight.Size(0);
        return x.Reshape(rows, x.Size(-1)).MatMul(weight.T).Reshape(shape);
    }
}
