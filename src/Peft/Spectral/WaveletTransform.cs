namespace Engine.Peft.Spectral;

/// <summary>
/// The single-level inverse 2-D discrete wavelet transform of WaveFT (PEFT's waveft/waverec2d.py, PyWavelets' idwt2):
/// a [2h, 2w] coefficient grid is split into quadrants cA (top-left), cH (top-right), cV (bottom-left), cD
/// (bottom-right); cH is detail (the high-pass filter) along rows, cV along columns. Along one axis, N coefficient
/// pairs (a, d) give 2N − L + 2 samples y[i] = Σ_n a[n] rec_lo[i + p − 2n] + d[n] rec_hi[i + p − 2n] for a filter
/// of length L, p = ⌊(2L − 3) / 2⌋: PyTorch's stride-2 transposed convolution cropped by p on both sides, which is
/// PyWavelets' reconstruction for every mode but periodization. The 2-D transform applies it along columns, then
/// rows. Built from differentiable tensor operations (shifted slices times filter taps), so the coefficients train.
/// </summary>
public static class WaveletTransform
{
    /// <summary>True for the families the engine can reconstruct (PEFT's wavelet table: db1-db10, sym2-sym10, coif1-coif5).</summary>
    public static bool IsKnown(string family) => WaveletFilters.ReconstructionLowPass.ContainsKey(family);

    /// <summary>The filter length L of <paramref name="family"/>.</summary>
    public static int FilterLength(string family) => LowPass(family).Length;

    /// <summary>How many samples per axis the reconstruction loses to the filter (PEFT's <c>WAVELET_REDUCTIONS</c>): L − 2.</summary>
    public static int Reduction(string family) => FilterLength(family) - 2;

    /// <summary>The reconstruction [2h − L + 2, 2w − L + 2] of <paramref name="grid"/> [2h, 2w] with <paramref name="family"/>'s filters.</summary>
    public static Tensor Inverse2d(Tensor grid, string family)
    {
        int rows = grid.Size(0), cols = grid.Size(1);
        if (grid.Rank != 2 || rows % 2 != 0 || cols % 2 != 0) throw new ArgumentException($"WaveletTransform.Inverse2d: the grid must be 2-D with even sides, got {Shapes.Format(grid.Shape)}");
        var lo = LowPass(family);
        if (rows / 2 * 2 - lo.Length + 2 < 1 || cols / 2 * 2 - lo.Length + 2 < 1)
            throw new ArgumentException($"WaveletTransform.Inverse2d: a {Shapes.Format(grid.Shape)} grid is too small for {family} (filter length {lo.Length})");
        // rec_hi[i] = (−1)^i rec_lo[L − 1 − i], as PyWavelets derives it.
        var hi = Enumerable.Range(0, lo.Length).Select(i => (i % 2 == 0 ? 1 : -1) * lo[lo.Length - 1 - i]).ToArray();
        int h = rows / 2, w = cols / 2;
        var cA = grid.Narrow(0, 0, h).Narrow(1, 0, w);
        var cH = grid.Narrow(0, 0, h).Narrow(1, w, w);
        var cV = grid.Narrow(0, h, h).Narrow(1, 0, w);
        var cD = grid.Narrow(0, h, h).Narrow(1, w, w);
        if (lo.Length == 2) return Haar(cA, cH, cV, cD, lo[0]);
        // Columns first: cA and cV share the row low-pass, cH and cD the row high-pass.
        var rowLow = AlongLastAxis(cA, cV, lo, hi);
        var rowHigh = AlongLastAxis(cH, cD, lo, hi);
        return AlongLastAxis(rowLow.T, rowHigh.T, lo, hi).T;
    }

    // The same transform for a two-tap filter (db1, c = 1/√2), written out: each coefficient spreads over one 2 × 2
    // block, out[2i + a, 2j + b] = c² (cA + (−1)^a cH + (−1)^b cV + (−1)^(a+b) cD), without the general path's shifted
    // slices (WaveFT's default trains about a third faster this way).
    static Tensor Haar(Tensor cA, Tensor cH, Tensor cV, Tensor cD, double c)
    {
        int h = cA.Size(0), w = cA.Size(1);
        var sum = cA + cD;
        var diff = cA - cD;
        double c2 = c * c;
        var b00 = (sum + cH + cV) * c2;
        var b01 = (diff + cH - cV) * c2;
        var b10 = (diff - cH + cV) * c2;
        var b11 = (sum - cH - cV) * c2;
        var even = Tensor.Stack([b00, b01], 2);
        var odd = Tensor.Stack([b10, b11], 2);
        return Tensor.Stack([even, odd], 1).Reshape(2 * h, 2 * w);
    }

    static double[] LowPass(string family) => WaveletFilters.ReconstructionLowPass.TryGetValue(family, out var lo) ? lo
        : throw new NotSupportedException($"WaveletTransform: no filters for wavelet '{family}'; known: {string.Join(", ", WaveletFilters.ReconstructionLowPass.Keys)}");

    // y [R, 2N − L + 2] from approximation a and detail d [R, N] along the last axis.
    static Tensor AlongLastAxis(Tensor a, Tensor d, double[] lo, double[] hi)
    {
        int n = a.Size(1), taps = lo.Length;
        int crop = (2 * taps - 3) / 2, length = 2 * n - taps + 2;
        Tensor? y = null;
        foreach (var (coefficients, filter) in new[] { (a, lo), (d, hi) })
        {
            // Upsampled by 2 (a zero after every sample but the last), then zero-padded by L − 1 on both sides, so
            // that the transposed convolution's output i + crop reads positions i + crop − k + L − 1 for tap k.
            var up = Tensor.Stack([coefficients, Tensor.Zeros(coefficients.Shape, coefficients.DType, coefficients.Device)], 2)
                .Reshape(coefficients.Size(0), 2 * n).Narrow(1, 0, 2 * n - 1).Pad([taps - 1, taps - 1]);
            for (int k = 0; k < taps; k++)
            {
                var term = up.Narrow(1, crop - k + taps - 1, length) * filter[k];
                y = y is null ? term : y + term;
            }
        }
        return y!;
    }
}
