namespace Engine.Peft;

/// <summary>
/// Family base of methods whose change of the weight is sparse, or has a sparse part: ΔW = (dense part, if any) +
/// values at fixed positions (<see cref="SparseDelta"/>). The positions are an integer tensor saved next to the values
/// — the adapter file's sparse storage (indices + values) — and merge/unmerge add and subtract the values at their
/// entries by scatter-add; a method with a dense part too overrides <see cref="DensePart"/>.
/// </summary>
public abstract class SparseDeltaAdapterLayer : AdditiveAdapterLayer
{
    /// <summary>Wraps <paramref name="baseLayer"/>.</summary>
    protected SparseDeltaAdapterLayer(Linear baseLayer) : base(baseLayer) { }

    /// <summary>The flat row-major positions [k] (Int32 or Int64) of adapter <paramref name="name"/>'s entries in [out, in].</summary>
    public abstract Tensor Positions(string name);

    /// <summary>The (scaled) values [k] added at <see cref="Positions"/>.</summary>
    public abstract Tensor SparseValues(string name);

    /// <summary>A dense part of ΔW [out, in] besides the sparse one (a low-rank B A), or null (the default).</summary>
    public virtual Tensor? DensePart(string name) => null;

    /// <summary>The sparse part alone as a dense [out, in] matrix.</summary>
    public Tensor SparsePart(string name) => SparseDelta.Dense(SparseValues(name), Positions(name), OutFeatures, InFeatures);

    /// <inheritdoc/>
    public override Tensor DeltaWeight(string name) => DensePart(name) is { } dense ? dense + SparsePart(name) : SparsePart(name);

    /// <inheritdoc/>
    protected override (Tensor Weight, Tensor? Bias) MergeWeights(string name, Tensor weight, Tensor? bias) =>
        (Add(name, weight, +1), bias);

    /// <inheritdoc/>
    protected override (Tensor Weight, Tensor? Bias) UnmergeWeights(string name, Tensor weight, Tensor? bias) =>
        (Add(name, weight, -1), bias);

    Tensor Add(string name, Tensor weight, int sign)
    {
        var values = SparseValues(name).Detach();
        var merged = SparseDelta.AddTo(weight, Positions(name), sign > 0 ? values : -values);
        return DensePart(name) is { } dense ? merged + sign * dense.Detach() : merged;
    }

    /// <summary>
    /// The planned pair of a sparse support of <paramref name="count"/> entries: the integer positions (each checked
    /// to lie in [0, out·in) when a file loads) and the values.
    /// </summary>
    protected IEnumerable<PlannedTensor> PlannedSparse(string positionsKey, string valuesKey, int count) =>
        [PlannedIntegers(positionsKey, null, (long)OutFeatures * InFeatures, count), Planned(valuesKey, null, count)];
}
