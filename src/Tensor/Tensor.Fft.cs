using Engine.Recording;

namespace Engine;

// Real FFTs along the last dimension, as torch.fft.rfft / torch.fft.irfft (norm "backward"). Complex numbers are
// stored as a trailing dimension of size 2 (real, imaginary), as torch.view_as_real shows them.
public sealed partial class Tensor
{
    /// <summary>
    /// Discrete Fourier transform of a real signal along the last dimension (torch.fft.rfft, unnormalised):
    /// x [..., L] gives [..., n/2+1, 2], the non-redundant bins k = 0..n/2 as (real, imaginary) pairs.
    /// <paramref name="n"/> (default L) zero-pads or truncates the signal to length n first.
    /// Float64 stays Float64; other dtypes compute as Float32.
    /// <code>var spectrum = Tensor.FromArray(new float[] { 1, 2, 3, 4 }).Rfft(); // [3, 2]</code>
    /// </summary>
    public Tensor Rfft(int? n = null)
    {
        Require(Rank >= 1, $"Rfft: expects at least one dimension, got a scalar {Shapes.Format(_shape)}");
        Require(DType != DType.Bool, $"Rfft: not defined for Bool tensors, got {Shapes.Format(_shape)}");
        int length = n ?? _shape[^1];
        Require(length >= 1, $"Rfft: signal length n must be at least 1, got {length} for input {Shapes.Format(_shape)}");
        var x = To(DType.ToFloating()).ResizeDim(-1, length);
        var y = Empty([.. _shape[..^1], length / 2 + 1, 2], x.DType, Backend);
        if (y.Numel > 0) Backend.Rfft(x.Strided, y.Strided);
        return y.Record(OpKind.Rfft, [x], new() { Start = length });
    }

    /// <summary>
    /// Inverse of <see cref="Rfft"/> (torch.fft.irfft, with the 1/n factor): a half spectrum [..., m, 2] gives the real
    /// signal [..., n], n defaulting to 2*(m-1). As in PyTorch, the spectrum is truncated or zero-padded to n/2+1 bins,
    /// taken to be Hermitian, and the imaginary parts of the DC bin and (for even n) the Nyquist bin are ignored.
    /// Pass n for odd-length signals: <c>x.Rfft().Irfft(x.Size(-1))</c> returns x.
    /// </summary>
    public Tensor Irfft(int? n = null)
    {
        Require(Rank >= 2 && _shape[^1] == 2,
            $"Irfft: expects a last dimension of size 2 (real, imaginary), got {Shapes.Format(_shape)}");
        Require(DType != DType.Bool, $"Irfft: not defined for Bool tensors, got {Shapes.Format(_shape)}");
        int bins = _shape[^2];
        Require(bins >= 1, $"Irfft: expects at least one frequency bin, got {Shapes.Format(_shape)}");
        int length = n ?? 2 * (bins - 1);
        Require(length >= 1, $"Irfft: output length n must be at least 1, got {length} for input {Shapes.Format(_shape)} (pass n when there is a single bin)");
        var x = To(DType.ToFloating()).ResizeDim(-2, length / 2 + 1);
        var y = Empty([.. _shape[..^2], length], x.DType, Backend);
        if (y.Numel > 0) Backend.Irfft(x.Strided, y.Strided);
        return y.Record(OpKind.Irfft, [x], new() { Start = length });
    }

    // This tensor with one dimension truncated (a view) or zero-padded at the end (a copy) to `size`.
    Tensor ResizeDim(int dim, int size)
    {
        int d = Shapes.NormalizeAxis("ResizeDim", dim, Rank);
        int current = _shape[d];
        if (size <= current) return size == current ? this : Narrow(d, 0, size);
        // Zero-padding at the end of dimension d; Pad lists (before, after) pairs from the last dimension.
        var padding = new int[2 * (Rank - d)];
        padding[^1] = size - current;
        return Pad(padding);
    }
}
