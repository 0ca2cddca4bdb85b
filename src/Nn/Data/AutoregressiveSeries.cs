namespace Engine.Nn;

/// <summary>
/// Synthetic AR(p) series for forecasting demos and tests: y_t = Σ_i φ_i y_{t-i} + σ ε_t, ε ~ N(0, 1), from a
/// burn-in long enough to forget the zero start. <see cref="FromRoots"/> builds φ from the roots of the
/// characteristic polynomial, so stability (all |root| &lt; 1) holds by construction.
/// <code>var phi = AutoregressiveSeries.FromRoots([(0.95, 0.0), (-0.6, 0.0)]); var y = AutoregressiveSeries.Sample(phi, 8, 128, new Generator(1));</code>
/// </summary>
public static class AutoregressiveSeries
{
    /// <summary>
    /// The coefficients φ_1..φ_p of the process whose characteristic polynomial z^p - Σ φ_i z^{p-i} has the given
    /// roots: each entry (r, θ) is a real root r (θ = 0) or the conjugate pair r e^{±iθ} (θ in (0, π)).
    /// </summary>
    public static double[] FromRoots(IReadOnlyList<(double Radius, double Angle)> roots)
    {
        // Multiply out Π (z - r) or Π (z² - 2 r cos θ z + r²); poly[j] is the coefficient of z^{p-j}.
        var poly = new List<double> { 1 };
        foreach (var (r, theta) in roots)
        {
            if (!(Math.Abs(r) < 1)) throw new ArgumentException($"AutoregressiveSeries: roots must lie inside the unit circle, got radius {r}");
            var factor = theta == 0 ? new[] { 1, -r } : new[] { 1, -2 * r * Math.Cos(theta), r * r };
            var next = new double[poly.Count + factor.Length - 1];
            for (int i = 0; i < poly.Count; i++)
                for (int j = 0; j < factor.Length; j++) next[i + j] += poly[i] * factor[j];
            poly = [.. next];
        }
        return poly.Skip(1).Select(v => -v).ToArray();
    }

    /// <summary>
    /// <paramref name="count"/> independent series of length <paramref name="length"/>, [count, length], each after
    /// <paramref name="burnIn"/> discarded steps, with innovations of standard deviation <paramref name="noise"/>.
    /// </summary>
    public static Tensor Sample(IReadOnlyList<double> phi, int count, int length, Generator? generator = null, double noise = 1, int burnIn = 200)
    {
        var (series, _) = SampleWithInnovations(phi, count, length, generator, noise, burnIn);
        return series;
    }

    /// <summary>
    /// As <see cref="Sample"/>, with the innovations σ ε_t that drove each kept position, [count, length] each. With
    /// <paramref name="burnIn"/> 0 the series starts from zeros, so it is exactly the innovations filtered by 1 / (1 - Σ φ_i z^{-i}).
    /// </summary>
    public static (Tensor Series, Tensor Innovations) SampleWithInnovations(IReadOnlyList<double> phi, int count, int length, Generator? generator = null, double noise = 1, int burnIn = 200)
    {
        if (phi.Count < 1) throw new ArgumentException("AutoregressiveSeries: needs at least one coefficient");
        if (count < 1 || length < 1 || burnIn < 0) throw new ArgumentException($"AutoregressiveSeries: needs count >= 1, length >= 1, burnIn >= 0, got {count}, {length}, {burnIn}");
        int total = burnIn + length, p = phi.Count;
        var eps = Tensor.Randn([count, total], 0, noise, DType.Float64, generator).ToDoubleArray();
        var y = new double[count * length];
        var u = new double[count * length];
        var window = new double[total];
        for (int n = 0; n < count; n++)
        {
            for (int t = 0; t < total; t++)
            {
                double v = eps[n * total + t];
                for (int i = 0; i < p && t - 1 - i >= 0; i++) v += phi[i] * window[t - 1 - i];
                window[t] = v;
            }
            Array.Copy(window, burnIn, y, n * length, length);
            Array.Copy(eps, n * total + burnIn, u, n * length, length);
        }
        return (Tensor.FromArray(y, [count, length]).To(DType.Float32), Tensor.FromArray(u, [count, length]).To(DType.Float32));
    }

    /// <summary>
    /// The optimal (conditional-mean) forecast of the AR(p) process over <paramref name="horizon"/> steps from each row of
    /// <paramref name="history"/> [B, L] (L ≥ p): the recurrence with future innovations set to zero. [B, horizon].
    /// </summary>
    public static Tensor OracleForecast(IReadOnlyList<double> phi, Tensor history, int horizon)
    {
        if (history.Rank != 2 || history.Size(1) < phi.Count)
            throw new ArgumentException($"AutoregressiveSeries.OracleForecast: expects history [B, L >= {phi.Count}], got {Shapes.Format(history.Shape)}");
        int batch = history.Size(0), lag = history.Size(1), p = phi.Count;
        var h = history.ToDoubleArray();
        var f = new double[batch * horizon];
        var buffer = new double[lag + horizon];
        for (int n = 0; n < batch; n++)
        {
            Array.Copy(h, n * lag, buffer, 0, lag);
            for (int i = 0; i < horizon; i++)
            {
                double v = 0;
                for (int j = 0; j < p; j++) v += phi[j] * buffer[lag + i - 1 - j];
                buffer[lag + i] = v;
                f[n * horizon + i] = v;
            }
        }
        return Tensor.FromArray(f, [batch, horizon]).To(DType.Float32);
    }
}
