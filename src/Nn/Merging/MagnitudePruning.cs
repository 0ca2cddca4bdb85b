namespace Engine.Nn.Merging;

/// <summary>
/// TIES' "trim" step (Yadav et al. 2023, "TIES-Merging", §4 step 1): keep the k = ⌊density · n⌋ entries of largest
/// magnitude, zero the rest. PEFT's <c>magnitude_based_pruning</c> in <c>src/peft/utils/merge_utils.py</c> does the
/// same with <c>torch.topk</c>, whose order among equal magnitudes is unspecified; here equal magnitudes are kept in
/// order of their flat (row-major) index, lowest first, so the result is deterministic.
/// </summary>
public static class MagnitudePruning
{
    /// <summary>
    /// <paramref name="tensor"/> with all but its ⌊density · numel⌋ largest-magnitude entries set to 0 (same shape and dtype).
    /// Density 1 returns the values unchanged (PEFT: no pruning at density ≥ 1), density 0 returns zeros.
    /// <code>MagnitudePruning.Prune(Tensor.FromArray(new[] { 1.0, -3, 2 }), 0.67) // [0, -3, 0]</code>
    /// </summary>
    /// <exception cref="ArgumentException">Density outside [0, 1] or not a number; a non-floating tensor.</exception>
    public static Tensor Prune(Tensor tensor, double density)
    {
        PruningDensity.Check("MagnitudePruning", density);
        if (!tensor.DType.IsFloating()) throw new ArgumentException($"MagnitudePruning: needs a floating tensor, got {tensor.DType.Name()} {Shapes.Format(tensor.Shape)}");
        if (density >= 1) return tensor.Clone();
        var values = tensor.To(DType.Float64).ToArray<double>();
        // Python's int(density * n): truncation, as PEFT.
        int keep = (int)(density * values.Length);
        var order = Enumerable.Range(0, values.Length).ToArray();
        Array.Sort(order, (i, j) =>
        {
            int byMagnitude = Math.Abs(values[j]).CompareTo(Math.Abs(values[i]));
            return byMagnitude != 0 ? byMagnitude : i.CompareTo(j);
        });
        var kept = new double[values.Length];
        for (int r = 0; r < keep; r++) kept[order[r]] = values[order[r]];
        return Tensor.FromArray(kept, tensor.Shape).To(tensor.DType);
    }
}
