namespace Engine.Nn;

/// <summary>The q-quantile with linear interpolation between order statistics (numpy's and torch's default).</summary>
public static class LinearQuantile
{
    /// <summary>
    /// With v sorted ascending and position p = q·(n − 1): v[⌊p⌋] + (p − ⌊p⌋)·(v[⌊p⌋ + 1] − v[⌊p⌋]).
    /// </summary>
    /// <exception cref="ArgumentException">No values, or a NaN among them.</exception>
    /// <exception cref="ArgumentOutOfRangeException">q outside [0, 1].</exception>
    public static double Of(IReadOnlyList<double> values, double q)
    {
        if (values.Count == 0) throw new ArgumentException("LinearQuantile: no values");
        if (!(q >= 0 && q <= 1)) throw new ArgumentOutOfRangeException(nameof(q), q, "LinearQuantile: q must be in [0, 1]");
        var sorted = values.ToArray();
        if (sorted.Any(double.IsNaN)) throw new ArgumentException("LinearQuantile: the values contain NaN");
        Array.Sort(sorted);
        double position = q * (sorted.Length - 1);
        int below = (int)Math.Floor(position);
        if (below >= sorted.Length - 1) return sorted[^1];
        return sorted[below] + (position - below) * (sorted[below + 1] - sorted[below]);
    }
}
