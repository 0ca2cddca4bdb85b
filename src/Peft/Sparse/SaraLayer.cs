namespace Engine.Peft.Sparse;

/// <summary>
/// A <see cref="Linear"/> with SaRA adapters (<see cref="SaraConfig"/>): ΔW is supported on P = {|W0| &lt; θ}, the
/// weight's smallest-magnitude entries, chosen from the pretrained weight when the adapter is created; keys
/// <c>sara_positions</c> (Int64 [k], flat row-major) and <c>sara_values</c> [k] (start 0).
/// </summary>
public sealed class SaraLayer : SelectedEntriesLayer
{
    /// <summary>Wraps <paramref name="baseLayer"/>.</summary>
    public SaraLayer(Linear baseLayer) : base(baseLayer) { }

    /// <inheritdoc/>
    protected override string Prefix => "sara";

    /// <inheritdoc/>
    protected override long[] Select(AdapterContext context)
    {
        double threshold = context.ConfigAs<SaraConfig>().Threshold;
        return SparseDelta.Where(BaseLayer.Weight, w => Math.Abs(w) < threshold);
    }

    /// <summary>W ⊙ M: the current weight (W0 + ΔW) on P, zero elsewhere, differentiable in the values (the regulariser's input).</summary>
    public Tensor MaskedWeight(string name)
    {
        var positions = Positions(name);
        var w0 = SparseDelta.Gather(BaseLayer.Weight.Detach(), positions);
        return SparseDelta.Dense(w0 + Values(name), positions, OutFeatures, InFeatures);
    }
}
