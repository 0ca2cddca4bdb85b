namespace Engine.Backends.Cpu;

/// <summary>
/// The per-row steps of the fused attention on Float32 rows of a few dozen to a few hundred scores (causal rows have
/// every length), written once over the vector width (<see cref="IFloatLanes{TV}"/>): the forward's softmax and the
/// backward's softmax gradient. At these lengths library calls per row cost as much as the arithmetic, and one scalar
/// exp per leftover score cost most of the softmax's time, so each row is whole vectors plus one tail vector read
/// through a padded buffer. <see cref="Use"/> says whether the calling CPU has a width for them.
/// </summary>
internal static unsafe class AttentionRows
{
    /// <summary>The widest lanes a tail buffer holds (AVX-512's 16 Float32).</summary>
    const int MaxLanes = 16;

    /// <summary>Which width the engine's kernels use here: 16 lanes, 8, or none (the caller's scalar-library path).</summary>
    public static int Use => CpuIsa.Use512 ? 16 : CpuIsa.Active >= IsaLevel.Avx2 ? 8 : 0;

    /// <summary>
    /// softmax(row + bias) in place over <paramref name="n"/> scores (<paramref name="bias"/> may be null): three
    /// passes (add and max, exp and sum, scale), the exponential <see cref="ExpFloat"/>'s inlined (its arguments are
    /// at most 0 after the shift). The tail's padding is -inf, weight 0. As the composed softmax: a row whose scores are
    /// all -inf shifts by 0 and gives 0 / 0 = NaN, and a NaN score makes the whole row NaN (through its exp and the sum).
    /// </summary>
    public static void Softmax<TV, TLanes>(float* row, int n, float* bias) where TV : struct where TLanes : struct, IFloatLanes<TV>
    {
        int w = TLanes.Count, whole = n - n % w, tail = n - whole;
        float* padded = stackalloc float[MaxLanes];
        var rest = TLanes.Broadcast(float.NegativeInfinity);
        if (tail > 0)
        {
            for (int l = 0; l < w; l++)
                padded[l] = l >= tail ? float.NegativeInfinity : bias == null ? row[whole + l] : row[whole + l] + bias[whole + l];
            rest = TLanes.Load(padded);
        }
        var vmax = rest;
        for (int j = 0; j < whole; j += w)
        {
            var v = TLanes.Load(row + j);
            if (bias != null)
            {
                v = TLanes.Add(v, TLanes.Load(bias + j));
                TLanes.Store(v, row + j);
            }
            vmax = TLanes.Max(vmax, v);
        }
        float max = TLanes.MaxAcross(vmax);
        if (float.IsNegativeInfinity(max)) max = 0;
        var shift = TLanes.Broadcast(max);
        var restExp = TLanes.Exp(TLanes.Subtract(rest, shift));
        var vsum = restExp;
        for (int j = 0; j < whole; j += w)
        {
            var e = TLanes.Exp(TLanes.Subtract(TLanes.Load(row + j), shift));
            TLanes.Store(e, row + j);
            vsum = TLanes.Add(vsum, e);
        }
        var scale = TLanes.Broadcast(1 / TLanes.Sum(vsum));
        for (int j = 0; j < whole; j += w) TLanes.Store(TLanes.Multiply(TLanes.Load(row + j), scale), row + j);
        if (tail > 0)
        {
            TLanes.Store(TLanes.Multiply(restExp, scale), padded);
            for (int l = 0; l < tail; l++) row[whole + l] = padded[l];
        }
    }

    /// <summary>
    /// The softmax's backward for one row, in place in <paramref name="dp"/>: dS = P o (dP - D) with
    /// D = sum_j P_j dP_j, over <paramref name="n"/> weights. Two passes (the dot with two accumulators, then the
    /// update) where there were three library calls; the tail is padded with zeros, which add nothing to D.
    /// </summary>
    public static void SoftmaxGradient<TV, TLanes>(float* p, float* dp, int n) where TV : struct where TLanes : struct, IFloatLanes<TV>
    {
        int w = TLanes.Count, whole = n - n % w, tail = n - whole;
        float* tailP = stackalloc float[MaxLanes], tailDp = stackalloc float[MaxLanes];
        var acc0 = TLanes.Broadcast(0f);
        var acc1 = TLanes.Broadcast(0f);
        if (tail > 0)
        {
            for (int l = 0; l < w; l++)
            {
                tailP[l] = l < tail ? p[whole + l] : 0f;
                tailDp[l] = l < tail ? dp[whole + l] : 0f;
            }
            acc1 = TLanes.Multiply(TLanes.Load(tailP), TLanes.Load(tailDp));
        }
        int j = 0;
        for (; j + 2 * w <= whole; j += 2 * w)
        {
            acc0 = TLanes.MultiplyAdd(TLanes.Load(p + j), TLanes.Load(dp + j), acc0);
            acc1 = TLanes.MultiplyAdd(TLanes.Load(p + j + w), TLanes.Load(dp + j + w), acc1);
        }
        if (j < whole) acc0 = TLanes.MultiplyAdd(TLanes.Load(p + j), TLanes.Load(dp + j), acc0);
        var dot = TLanes.Broadcast(TLanes.Sum(TLanes.Add(acc0, acc1)));
        for (j = 0; j < whole; j += w)
            TLanes.Store(TLanes.Multiply(TLanes.Load(p + j), TLanes.Subtract(TLanes.Load(dp + j), dot)), dp + j);
        if (tail > 0)
        {
            TLanes.Store(TLanes.Multiply(TLanes.Load(tailP), TLanes.Subtract(TLanes.Load(tailDp), dot)), tailDp);
            for (int l = 0; l < tail; l++) dp[whole + l] = tailDp[l];
        }
    }
}
