namespace Engine.Peft;

/// <summary>
/// Family base of additive methods whose change of the weight is a function of the frozen weight itself,
/// ΔW = f(W0) (DeFT removes a learned subspace of W0; PEANuT feeds W0 through a small network). W0 is the unmerged
/// weight: once an adapter is merged the base holds W0 + ΔW, so the first merge keeps a copy of W0, every merged delta
/// and every unmerged adapter reads that copy, and unmerging the last adapter puts it back bit for bit (PEFT keeps the
/// same copy for PEANuT, and the W0-dependent factor for DeFT). A method writes <see cref="DeltaFor"/>.
/// </summary>
public abstract class WeightAwareAdapterLayer : AdditiveAdapterLayer
{
    readonly PreMergeSnapshot _snapshot = new();

    /// <summary>Wraps <paramref name="baseLayer"/>.</summary>
    protected WeightAwareAdapterLayer(Linear baseLayer) : base(baseLayer) { }

    /// <summary>
    /// W0 [out, in]: the base weight itself while nothing is merged (so a trainable base gets ΔW's part of the
    /// gradient, as in PEFT), else the copy taken at the first merge.
    /// </summary>
    public Tensor UnmergedWeight => _snapshot.Weight(BaseLayer.Weight);

    /// <summary>The change of the weight adapter <paramref name="name"/> makes to <paramref name="baseWeight"/> [out, in].</summary>
    public abstract Tensor DeltaFor(string name, Tensor baseWeight);

    /// <summary>ΔW of adapter <paramref name="name"/> for the unmerged weight.</summary>
    public override Tensor DeltaWeight(string name) => DeltaFor(name, UnmergedWeight);

    /// <inheritdoc/>
    protected override (Tensor Weight, Tensor? Bias) MergeWeights(string name, Tensor weight, Tensor? bias)
    {
        _snapshot.BeforeMerge(MergedAdapters.Count == 0, weight, bias);
        return (weight + DeltaWeight(name).Detach(), bias);
    }

    /// <inheritdoc/>
    protected override (Tensor Weight, Tensor? Bias) UnmergeWeights(string name, Tensor weight, Tensor? bias) =>
        _snapshot.Unmerge(MergedAdapters.Count == 1, () => (weight - DeltaWeight(name).Detach(), bias));
}
