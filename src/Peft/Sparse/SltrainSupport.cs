namespace Engine.Peft.Sparse;

/// <summary>
/// SLTrain's fixed random support Ω (arXiv 2406.02214, section 3; the reference's <c>_init_sparse_parameters</c>): the
/// first ⌊δ·out·in⌋ entries of a uniformly random permutation of the out·in flat row-major positions, sorted ascending.
/// The engine draws the permutation with its own <see cref="Generator"/> (the order of out·in uniform keys), not torch's
/// randperm: Ω is saved in the adapter file, so nothing needs to regenerate it.
/// </summary>
public static class SltrainSupport
{
    /// <summary>|Ω| = ⌊<paramref name="density"/>·rows·cols⌋ (the reference's <c>int(sp_ratio * total)</c>).</summary>
    /// <exception cref="ArgumentException">The count is zero (the matrix is too small for the density) or above 2³¹ − 1.</exception>
    public static int Count(int rows, int cols, double density, string where)
    {
        double k = Math.Floor(density * rows * cols);
        if (k < 1) throw new ArgumentException($"SLTrain: sp_ratio {density} of the [{rows}, {cols}] weight at '{where}' gives no sparse entry; raise sp_ratio");
        if (k > int.MaxValue) throw new ArgumentException($"SLTrain: sp_ratio {density} of the [{rows}, {cols}] weight at '{where}' gives {k} sparse entries, more than 2^31 - 1");
        return (int)k;
    }

    /// <summary>The sorted flat positions of Ω [k] for a [<paramref name="rows"/>, <paramref name="cols"/>] matrix.</summary>
    public static long[] Draw(int rows, int cols, int count, Generator generator)
    {
        long n = (long)rows * cols;
        if (n > int.MaxValue) throw new ArgumentException($"SLTrain: a [{rows}, {cols}] weight has more than 2^31 - 1 entries");
        if (count < 1 || count > n) throw new ArgumentOutOfRangeException(nameof(count), $"SLTrain: |Ω| must be in [1, {n}], got {count}");
        var keys = Tensor.Rand([(int)n], 0, 1, DType.Float64, generator).ToArray<double>();
        var order = new long[n];
        for (long i = 0; i < n; i++) order[i] = i;
        Array.Sort(keys, order);
        var support = order[..count];
        Array.Sort(support);
        return support;
    }
}
