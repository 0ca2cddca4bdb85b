using Engine.Autograd;

namespace Engine.Peft.Sparse;

/// <summary>
/// PST's binariser (AliceMind <c>S4/PST/pst/sparse.py::SparseBinarizer</c>): the mask of a score matrix with its
/// <paramref name="pruned"/> lowest entries 0 and the rest 1, and a straight-through backward (the output gradient
/// passes to the scores unchanged), so the scores' parameters learn importance. Ties are broken by position (the
/// lower flat index is pruned first), so the mask is deterministic.
/// <code>var m = new PstMask(k).Apply(scores); // forward: 0/1; backward: identity</code>
/// </summary>
/// <param name="pruned">How many entries to zero, in [0, numel].</param>
public sealed class PstMask(long pruned) : Function
{
    /// <summary>The 0/1 mask of <paramref name="scores"/> without recording: its <paramref name="pruned"/> lowest entries zeroed.</summary>
    public static Tensor Of(Tensor scores, long pruned)
    {
        var values = scores.ToDoubleArray();
        if (pruned < 0 || pruned > values.Length) throw new ArgumentOutOfRangeException(nameof(pruned), $"PstMask: {pruned} pruned entries of a {values.Length}-entry score");
        var mask = new float[values.Length];
        Array.Fill(mask, 1f);
        if (pruned > 0)
        {
            var order = Enumerable.Range(0, values.Length).ToArray();
            Array.Sort(order, (a, b) => values[a] != values[b] ? values[a].CompareTo(values[b]) : a.CompareTo(b));
            for (long i = 0; i < pruned; i++) mask[order[i]] = 0;
        }
        return Tensor.FromArray(mask, scores.Shape).To(scores.DType).To(scores.Device);
    }

    /// <inheritdoc/>
    protected override Tensor Forward(FunctionContext ctx, Tensor[] inputs) => Of(inputs[0], pruned);

    /// <inheritdoc/>
    protected override Tensor?[] Backward(FunctionContext ctx, Tensor gradOutput) => [gradOutput];
}
