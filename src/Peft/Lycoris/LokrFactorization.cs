namespace Engine.Peft.Lycoris;

/// <summary>LoKr's split of a dimension into two factors (PEFT's <c>lokr.layer.factorization</c>, as LyCORIS).</summary>
public static class LokrFactorization
{
    /// <summary>
    /// (m, n) with m n = <paramref name="dimension"/> and m &lt;= n: (factor, dimension / factor) when the factor divides
    /// it; otherwise m steps through the divisors while m &lt; n and m &lt;= factor (−1: no bound), so it lands near the
    /// square root. 768 → (24, 32), 11008 → (86, 128); factor 8: 768 → (8, 96).
    /// </summary>
    public static (int M, int N) Split(int dimension, int factor = -1)
    {
        if (dimension < 1) throw new ArgumentException($"LokrFactorization: dimension must be positive, got {dimension}");
        if (factor > 0 && dimension % factor == 0) return (factor, dimension / factor);
        if (factor == -1) factor = dimension;
        int m = 1, n = dimension;
        // PEFT's loop also stops when m + n would grow past 1 + dimension, which a divisor pair never does.
        while (m < n)
        {
            int next = m + 1;
            while (dimension % next != 0) next++;
            if (next > factor) break;
            (m, n) = (next, dimension / next);
        }
        return m > n ? (n, m) : (m, n);
    }
}
