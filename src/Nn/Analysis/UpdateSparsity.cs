namespace Engine.Nn;

/// <summary>
/// How much of a model an update touched (after "Reinforcement Learning Finetunes Small Subnetworks in Large Language
/// Models", Mukherjee et al. 2025; spec structure-and-optimizers.md section 5.2): per tensor, the fraction of entries
/// that changed by more than a tolerance and, for matrices, the numerical rank of the update. The paper's finding is
/// that RL fine-tuning changes 5–30% of the parameters, yet each matrix's update is nearly full-rank.
/// <code>var report = UpdateSparsity.Compare(Safetensors.Load("before.safetensors"), Safetensors.Load("after.safetensors"), tolerance: 1e-5);</code>
/// </summary>
public static class UpdateSparsity
{
    /// <summary>One tensor's row: entries changed by more than the tolerance, and the update's rank (matrices only, else null).</summary>
    public sealed record TensorChange(string Name, int[] Shape, long Elements, long Changed, int? UpdateRank, int? FullRank)
    {
        /// <summary>The fraction of entries that changed (0 for an empty tensor).</summary>
        public double FractionChanged => Elements == 0 ? 0 : (double)Changed / Elements;
    }

    /// <summary>The rows in name order, and the totals over all tensors.</summary>
    public sealed record Report(IReadOnlyList<TensorChange> Tensors)
    {
        public long Elements => Tensors.Sum(t => t.Elements);
        public long Changed => Tensors.Sum(t => t.Changed);
        public double FractionChanged => Elements == 0 ? 0 : (double)Changed / Elements;
    }

    /// <summary>
    /// Compares two state dicts with the same names and shapes. An entry counts as changed when |after − before| &gt;
    /// <paramref name="tolerance"/> (0 counts every bit-level change of value). The rank of a matrix's update is
    /// torch.linalg.matrix_rank's: singular values above max(m, n) · ε · σ_max, with ε of the tensors' dtype.
    /// </summary>
    /// <exception cref="ArgumentException">The names, shapes or dtypes differ (the message lists them), or the tolerance is negative or not finite.</exception>
    public static Report Compare(IReadOnlyDictionary<string, Tensor> before, IReadOnlyDictionary<string, Tensor> after, double tolerance = 1e-5)
    {
        if (!(tolerance >= 0) || double.IsInfinity(tolerance))
            throw new ArgumentException($"UpdateSparsity.Compare: the tolerance must be finite and >= 0, got {tolerance}");
        var onlyBefore = before.Keys.Except(after.Keys).Order(StringComparer.Ordinal).ToList();
        var onlyAfter = after.Keys.Except(before.Keys).Order(StringComparer.Ordinal).ToList();
        if (onlyBefore.Count > 0 || onlyAfter.Count > 0)
            throw new ArgumentException($"UpdateSparsity.Compare: the two state dicts hold different tensors; only in the first: [{string.Join(", ", onlyBefore.Take(5))}]" +
                $"{(onlyBefore.Count > 5 ? $" and {onlyBefore.Count - 5} more" : "")}; only in the second: [{string.Join(", ", onlyAfter.Take(5))}]{(onlyAfter.Count > 5 ? $" and {onlyAfter.Count - 5} more" : "")}");
        var rows = new List<TensorChange>();
        foreach (var name in before.Keys.Order(StringComparer.Ordinal))
        {
            Tensor a = before[name], b = after[name];
            if (!a.Shape.AsSpan().SequenceEqual(b.Shape) || a.DType != b.DType)
                throw new ArgumentException($"UpdateSparsity.Compare: '{name}' is {a.DType.Name()} {Shapes.Format(a.Shape)} in the first and {b.DType.Name()} {Shapes.Format(b.Shape)} in the second");
            rows.Add(Change(name, a, b, tolerance));
        }
        return new Report(rows);
    }

    static TensorChange Change(string name, Tensor before, Tensor after, double tolerance)
    {
        var a = before.ToDoubleArray();
        var b = after.ToDoubleArray();
        var delta = new double[a.Length];
        long changed = 0;
        for (int i = 0; i < a.Length; i++)
        {
            delta[i] = b[i] - a[i];
            // NaN on either side counts as a change unless both are NaN (the "value" did not change).
            bool same = double.IsNaN(a[i]) && double.IsNaN(b[i]) || Math.Abs(delta[i]) <= tolerance;
            if (!same) changed++;
        }
        if (before.Rank != 2 || !before.DType.IsFloating() || a.Length == 0) return new TensorChange(name, before.Shape.ToArray(), a.Length, changed, null, null);
        int m = before.Size(0), n = before.Size(1);
        return new TensorChange(name, before.Shape.ToArray(), a.Length, changed, changed == 0 ? 0 : NumericalRank(delta, m, n, before.DType), Math.Min(m, n));
    }

    // torch.linalg.matrix_rank's default tolerance: σ > max(m, n) · ε(dtype) · σ_max.
    static int NumericalRank(double[] delta, int m, int n, DType dtype)
    {
        if (delta.Any(v => !double.IsFinite(v))) return Math.Min(m, n);
        var s = Linalg.Svd(Tensor.FromArray(delta, [m, n])).S.ToDoubleArray();
        double eps = dtype == DType.Float64 ? 2.220446049250313e-16 : 1.1920928955078125e-7; // machine epsilon of the dtype
        double threshold = Math.Max(m, n) * eps * (s.Length == 0 ? 0 : s[0]);
        return s.Count(v => v > threshold);
    }
}
