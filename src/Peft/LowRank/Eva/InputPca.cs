namespace Engine.Peft.LowRank;

/// <summary>
/// Principal components of a stream of rows (a layer's inputs, batch after batch), exact: the running mean and the
/// centred scatter matrix Σ (x - μ)(x - μ)ᵀ are kept in Float64 and merged batch by batch (Chan, Golub and LeVeque
/// 1979), and <see cref="Fit"/> diagonalises the scatter. The result is that of an SVD of all rows stacked and
/// centred, whatever the batching, which is the limit PEFT's <c>IncrementalPCA</c> (utils/incremental_pca.py, after
/// scikit-learn's) approaches: PEFT keeps only the top components after each batch (and takes a randomised SVD), so
/// its components agree with these up to that truncation. Memory: features² doubles.
/// </summary>
public sealed class InputPca
{
    Tensor? _scatter;   // [f, f] Float64, centred
    Tensor? _mean;      // [f] Float64

    /// <summary>A PCA of rows of <paramref name="features"/> entries.</summary>
    public InputPca(int features)
    {
        if (features < 1) throw new ArgumentException($"InputPca: features must be positive, got {features}");
        Features = features;
    }

    /// <summary>The number of entries of a row.</summary>
    public int Features { get; }

    /// <summary>Rows seen so far.</summary>
    public long Count { get; private set; }

    /// <summary>Adds the rows of <paramref name="rows"/> [n, features] (any device and floating dtype; n may be 0).</summary>
    public void Add(Tensor rows)
    {
        if (rows.Rank != 2 || rows.Size(1) != Features)
            throw new ArgumentException($"InputPca: expected rows [n, {Features}], got {Shapes.Format(rows.Shape)}");
        int n = rows.Size(0);
        if (n == 0) return;
        var x = rows.Detach().To(Device.Cpu).To(DType.Float64);
        var batchMean = x.Mean(0);
        var centred = x - batchMean.Unsqueeze(0);
        var batchScatter = centred.T % centred;
        if (_scatter is null || _mean is null)
        {
            (_scatter, _mean, Count) = (batchScatter, batchMean, n);
            return;
        }
        // Chan et al.: S = S_a + S_b + (n_a n_b / n) δ δᵀ with δ = μ_b - μ_a; μ = μ_a + δ n_b / n.
        long total = Count + n;
        var delta = batchMean - _mean;
        _scatter = _scatter + batchScatter + delta.Unsqueeze(1) * delta.Unsqueeze(0) * ((double)Count * n / total);
        _mean = _mean + delta * ((double)n / total);
        Count = total;
    }

    /// <summary>
    /// The top <paramref name="k"/> components: rows [k, features] (orthonormal, by descending variance), the singular
    /// values of the stacked centred rows (PEFT's <c>singular_values_</c>: square roots of the scatter's eigenvalues) and
    /// the explained variance ratios (eigenvalue / trace of the scatter, PEFT's <c>explained_variance_ratio_</c>).
    /// Each row's sign makes its entry of largest magnitude positive (the first on ties), as PEFT's <c>_svd_flip</c>
    /// with <c>u_based_decision=False</c>.
    /// </summary>
    /// <exception cref="InvalidOperationException">No rows were added.</exception>
    /// <exception cref="ArgumentException"><paramref name="k"/> is not within 1..features.</exception>
    public (Tensor Components, double[] SingularValues, double[] ExplainedVarianceRatio) Fit(int k)
    {
        if (_scatter is null) throw new InvalidOperationException("InputPca: no rows were added");
        if (k < 1 || k > Features) throw new ArgumentException($"InputPca: k must be between 1 and the {Features} features, got {k}");
        int f = Features;
        // The product's rounding may leave it asymmetric by an ulp; the eigenvectors of its symmetric part are wanted.
        var (values, vectors) = Linalg.EighSymmetric((_scatter + _scatter.T) * 0.5);
        var w = values.ToDoubleArray();
        var v = vectors.ToDoubleArray();
        // PEFT divides by the total variance, the scatter's trace (its sum(var_ * n_samples_seen_)).
        var scatter = _scatter.ToDoubleArray();
        double trace = 0;
        for (int i = 0; i < f; i++) trace += scatter[i * f + i];
        var components = new double[k * f];
        var singular = new double[k];
        var ratio = new double[k];
        for (int j = 0; j < k; j++)
        {
            int column = f - 1 - j;   // EighSymmetric's eigenvalues ascend
            double lambda = Math.Max(w[column], 0);
            singular[j] = Math.Sqrt(lambda);
            ratio[j] = trace > 0 ? lambda / trace : 0;
            int best = 0;
            for (int i = 1; i < f; i++) if (Math.Abs(v[i * f + column]) > Math.Abs(v[best * f + column])) best = i;
            double sign = v[best * f + column] < 0 ? -1 : 1;
            for (int i = 0; i < f; i++) components[j * f + i] = sign * v[i * f + column];
        }
        return (Tensor.FromArray(components, [k, f]), singular, ratio);
    }
}
