namespace Engine.Peft.Spectral;

/// <summary>
/// The single-level inverse 2-D Haar (db1) transform of a [2h, 2w] coefficient grid split into quadrants as PEFT's
/// WaveFT does (<c>waveft/layer.py</c>): cA top-left, cH top-right, cV bottom-left, cD bottom-right, with pywt's
/// meaning (cH: detail along rows, cV: detail along columns). With the db1 filters (1, ±1)/√2,
/// out[2i + a, 2j + b] = ½ (cA + (−1)^a cH + (−1)^b cV + (−1)^(a+b) cD) at [i, j].
/// </summary>
public static class HaarWavelet
{
    /// <summary>The reconstruction [2h, 2w] of <paramref name="grid"/> [2h, 2w] (differentiable).</summary>
    public static Tensor Inverse(Tensor grid)
    {
        int rows = grid.Size(0), cols = grid.Size(1);
        if (rows % 2 != 0 || cols % 2 != 0) throw new ArgumentException($"HaarWavelet: the grid must have even sides, got [{rows}, {cols}]");
        int h = rows / 2, w = cols / 2;
        var cA = grid.Narrow(0, 0, h).Narrow(1, 0, w);
        var cH = grid.Narrow(0, 0, h).Narrow(1, w, w);
        var cV = grid.Narrow(0, h, h).Narrow(1, 0, w);
        var cD = grid.Narrow(0, h, h).Narrow(1, w, w);
        var sum = cA + cD;
        var diff = cA - cD;
        // (a, b) = (0, 0): A + H + V + D; (0, 1): A + H − V − D; (1, 0): A − H + V − D; (1, 1): A − H − V + D.
        var b00 = (sum + cH + cV) * 0.5;
        var b01 = (diff + cH - cV) * 0.5;
        var b10 = (diff - cH + cV) * 0.5;
        var b11 = (sum - cH - cV) * 0.5;
        var even = Tensor.Stack([b00, b01], 2);
        var odd = Tensor.Stack([b10, b11], 2);
        return Tensor.Stack([even, odd], 1).Reshape(rows, cols);
    }
}
