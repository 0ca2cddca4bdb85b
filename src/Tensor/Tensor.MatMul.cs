using Engine.Recording;

namespace Engine;

// Matrix products with PyTorch's matmul rules for 1-D, 2-D and batched operands.
public sealed partial class Tensor
{
    /// <summary>
    /// Matrix product as torch.matmul: 1-D @ 1-D is a dot product; a 1-D left operand is a row vector and a 1-D right
    /// operand a column vector (the added dimension is removed again); leading batch dimensions broadcast.
    /// </summary>
    public Tensor MatMul(Tensor other)
    {
        RequireSameDevice("MatMul", this, other);
        Require(Rank >= 1 && other.Rank >= 1, $"MatMul: both operands need at least one dimension, got {Shapes.Format(_shape)} @ {Shapes.Format(other._shape)}");
        int k1 = _shape[^1], k2 = other.Rank == 1 ? other._shape[0] : other._shape[^2];
        Require(k1 == k2, $"MatMul: {Shapes.Format(_shape)} @ {Shapes.Format(other._shape)}: inner dimensions {k1} and {k2} differ");
        var a = Rank == 1 ? Unsqueeze(0) : this;
        var b = other.Rank == 1 ? other.Unsqueeze(1) : other;
        var dtype = DTypes.Promote(a.DType, b.DType);
        Require(dtype != DType.Bool, "MatMul: not defined for Bool tensors");
        a = a.To(dtype);
        b = b.To(dtype);

        var batch = Shapes.Broadcast("MatMul", a._shape[..^2], b._shape[..^2]);
        int m = a._shape[^2], n = b._shape[^1];
        var ea = a.Expand([.. batch, m, k1]);
        var eb = b.Expand([.. batch, k1, n]);
        var result = Empty([.. batch, m, n], dtype, Backend, zeroed: k1 == 0);
        if (k1 > 0) Backend.MatMul(ea.Strided, eb.Strided, result.Strided);
        result.Record(OpKind.MatMul, [ea, eb]);

        if (Rank == 1) result = result.Squeeze(-2);
        if (other.Rank == 1) result = result.Squeeze(-1);
        return result;
    }

    /// <summary>Batched product of two rank-3 tensors with equal batch size (torch.bmm; no broadcasting).</summary>
    public Tensor Bmm(Tensor other)
    {
        Require(Rank == 3 && other.Rank == 3, $"Bmm: expects rank-3 operands, got {Shapes.Format(_shape)} @ {Shapes.Format(other._shape)}");
        Require(_shape[0] == other._shape[0], $"Bmm: {Shapes.Format(_shape)} @ {Shapes.Format(other._shape)}: batch sizes {_shape[0]} and {other._shape[0]} differ");
        return MatMul(other);
    }

    /// <summary>Outer product of two vectors: result[i, j] = this[i] * other[j].</summary>
    public Tensor Outer(Tensor other)
    {
        Require(Rank == 1 && other.Rank == 1, $"Outer: expects two vectors, got {Shapes.Format(_shape)} and {Shapes.Format(other._shape)}");
        return Unsqueeze(1) * other.Unsqueeze(0);
    }

    /// <summary>Dot product of two vectors.</summary>
    public Tensor Dot(Tensor other)
    {
        Require(Rank == 1 && other.Rank == 1 && _shape[0] == other._shape[0], $"Dot: expects two vectors of equal length, got {Shapes.Format(_shape)} and {Shapes.Format(other._shape)}");
        return MatMul(other);
    }

    /// <summary>Matrix product operator, as Python's <c>@</c>.</summary>
    public static Tensor operator %(Tensor a, Tensor b) => a.MatMul(b);
}
