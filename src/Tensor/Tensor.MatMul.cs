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

    /// <summary>
    /// input + mat1 @ mat2 for matrices mat1 [M, K] and mat2 [K, N], with input broadcast to [M, N] (torch.addmm with
    /// beta = alpha = 1). One pass instead of two: the addend (a Linear layer's bias) is placed in the output and the
    /// matrix product accumulates onto it, so the sum never makes a second trip through memory.
    /// </summary>
    public static Tensor Addmm(Tensor input, Tensor mat1, Tensor mat2)
    {
        RequireSameDevice("Addmm", mat1, mat2);
        RequireSameDevice("Addmm", input, mat1);
        var (m, n, k) = AddmmShape("Addmm", input, mat1, mat2);
        var dtype = DTypes.Promote(DTypes.Promote(mat1.DType, mat2.DType), input.DType);
        Require(dtype != DType.Bool, "Addmm: not defined for Bool tensors");
        var (bias, a, b) = (input.To(dtype), mat1.To(dtype), mat2.To(dtype));
        var addend = bias.Expand([m, n]);
        var result = Empty([m, n], dtype, a.Backend);
        if (k > 0 && IsRowBias(bias, n) && dtype == DType.Float32 && a.Backend is Backends.Cpu.CpuBackend cpu)
            // A Linear's bias: added to each tile of the product as it finishes, so the output is written once.
            cpu.MatMulRowBias(a.Strided, b.Strided, bias.Strided, result.Strided, Backends.Cpu.GemmActivation.None);
        else
        {
            a.Backend.Copy(addend.Strided, result.Strided);
            if (k > 0) a.Backend.MatMul(a.Strided, b.Strided, result.Strided, accumulate: true);
        }
        return result.Record(OpKind.AddMatMul, [addend, a, b]);
    }

    // A contiguous [n] vector: the form the GEMM's epilogue adds to every row.
    static bool IsRowBias(Tensor input, int n) => input.Rank == 1 && input._shape[0] == n && input._strides[0] == 1;

    // The sizes of input + mat1 @ mat2 ([m, k] @ [k, n]), after the checks Addmm and its fused form share.
    static (int M, int N, int K) AddmmShape(string op, Tensor input, Tensor mat1, Tensor mat2)
    {
        Require(mat1.Rank == 2 && mat2.Rank == 2, $"{op}: expects matrices, got {Shapes.Format(mat1._shape)} @ {Shapes.Format(mat2._shape)}");
        int m = mat1._shape[0], k = mat1._shape[1], n = mat2._shape[1];
        Require(k == mat2._shape[0], $"{op}: {Shapes.Format(mat1._shape)} @ {Shapes.Format(mat2._shape)}: inner dimensions {k} and {mat2._shape[0]} differ");
        Require(input.Rank <= 2 && Shapes.Broadcast(op, input._shape, [m, n]).AsSpan().SequenceEqual([m, n]),
            $"{op}: input {Shapes.Format(input._shape)} does not broadcast to the product's [{m}, {n}]");
        return (m, n, k);
    }

    /// <summary>
    /// GELU(input + mat1 @ mat2) (the exact, erf form) with the activation applied to each tile of the product while it
    /// is in cache, for inference: a Linear layer and its activation in one pass (BERT's feed-forward). Returns false,
    /// computing nothing, where it does not apply: while recording is on (outside <c>Autograd.NoGrad()</c>), off the
    /// CPU, or for dtypes other than Float32; the caller then composes <see cref="Addmm"/> and
    /// <see cref="Gelu"/>, which give the same values.
    /// </summary>
    public static bool TryAddmmGelu(Tensor input, Tensor mat1, Tensor mat2, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out Tensor? output)
    {
        output = null;
        // Only with recording off, so the path (and the rounding) never depends on which tensors require grad.
        if (GradMode.IsEnabled) return false;
        if (mat1.Backend is not Backends.Cpu.CpuBackend cpu || mat2.Backend != cpu || input.Backend != cpu) return false;
        if (input.DType != DType.Float32 || mat1.DType != DType.Float32 || mat2.DType != DType.Float32) return false;
        var (m, n, _) = AddmmShape("AddmmGelu", input, mat1, mat2);
        var result = Empty([m, n], DType.Float32, cpu);
        if (IsRowBias(input, n))
            // A Linear's bias: added to each tile in the GEMM's epilogue, so the output is written once.
            cpu.MatMulRowBias(mat1.Strided, mat2.Strided, input.Strided, result.Strided, Backends.Cpu.GemmActivation.GeluErf);
        else
        {
            cpu.Copy(input.Expand([m, n]).Strided, result.Strided);
            cpu.MatMul(mat1.Strided, mat2.Strided, result.Strided, accumulate: true, Backends.Cpu.GemmEpilogue.Of(Backends.Cpu.GemmActivation.GeluErf));
        }
        output = result.RecordNonDifferentiable("AddmmGelu", input, mat1, mat2);
        return true;
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
