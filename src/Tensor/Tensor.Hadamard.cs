using Engine.Recording;

namespace Engine;

// The Walsh–Hadamard transform, the fast orthogonal-up-to-scale mixing of Fastfood projections (intrinsic-dimension
// training, arXiv 1804.08838; spec structure-and-optimizers.md §4.1).
public sealed partial class Tensor
{
    /// <summary>
    /// Unnormalised fast Walsh–Hadamard transform of the last dimension, whose length L must be a power of two:
    /// y = x H with H[i, j] = (-1)^popcount(i &amp; j), so H H = L I and FWHT(FWHT(x)) = L x. H is symmetric, so the
    /// transform is its own adjoint (the gradient of y is FWHT(g)). Computed by log2(L) in-place butterfly stages,
    /// O(L log L) per row; Float64 stays Float64, other dtypes compute as Float32.
    /// <code>var y = Tensor.FromArray(new float[] { 1, 0, 0, 0 }).Fwht(); // [1, 1, 1, 1]</code>
    /// </summary>
    public Tensor Fwht()
    {
        Require(Rank >= 1, $"Fwht: expects at least one dimension, got a scalar {Shapes.Format(_shape)}");
        Require(DType != DType.Bool, $"Fwht: not defined for Bool tensors, got {Shapes.Format(_shape)}");
        int length = _shape[^1];
        Require(length >= 1 && (length & (length - 1)) == 0, $"Fwht: the last dimension must be a power of two, got {Shapes.Format(_shape)}");
        var x = To(DType.ToFloating());
        var y = Empty(_shape, x.DType, x.Backend);
        if (y.Numel > 0)
        {
            x.Backend.Copy(x.Strided, y.Strided);
            x.Backend.Fwht(y.Strided);
        }
        return y.Record(OpKind.Fwht, [x]);
    }
}
