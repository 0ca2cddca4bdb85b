using Xunit;

namespace Engine.Tests;

/// <summary>Common mistakes throw at the op that saw them, naming the op and the shapes or dtypes.</summary>
public class ErrorMessageTests
{
    static readonly Tensor M23 = Tensor.Zeros(2, 3), M45 = Tensor.Zeros(4, 5);

    static void Throws<TException>(string expected, Action act) where TException : Exception
    {
        var e = Assert.Throws<TException>(act);
        Assert.StartsWith(expected, e.Message);
    }

    [Fact]
    public void MatMul_InnerDimensionMismatch_NamesBothShapes()
        => Throws<ArgumentException>("MatMul: [2,3] @ [4,5]: inner dimensions 3 and 4 differ", () => M23.MatMul(M45));

    [Fact]
    public void MatMul_BatchMismatch_And_Bool_And_Scalar()
    {
        Throws<ArgumentException>("MatMul: shapes [2] and [3] cannot be broadcast", () => Tensor.Zeros(2, 4, 3).MatMul(Tensor.Zeros(3, 3, 5)));
        Throws<ArgumentException>("MatMul: not defined for Bool tensors", () => Tensor.Ones([2, 2], DType.Bool).MatMul(Tensor.Ones([2, 2], DType.Bool)));
        Throws<ArgumentException>("MatMul: both operands need at least one dimension, got [] @ [2]", () => Tensor.Scalar(1).MatMul(Tensor.Zeros(2)));
        Throws<ArgumentException>("Bmm: [2,4,3] @ [3,3,5]: batch sizes 2 and 3 differ", () => Tensor.Zeros(2, 4, 3).Bmm(Tensor.Zeros(3, 3, 5)));
    }

    [Fact]
    public void Broadcasting_Failure_NamesOpShapesAndDimension()
    {
        Throws<ArgumentException>("Add: shapes [2,3] and [4] cannot be broadcast: dimension 1 is 3 vs 4 (sizes must match or one must be 1)", () => _ = M23 + Tensor.Zeros(4));
        Throws<ArgumentException>("Mul: shapes [2,3] and [4,5] cannot be broadcast: dimension 0 is 2 vs 4", () => _ = M23 * M45);
        Throws<ArgumentException>("Lt: shapes [2,3] and [4,5] cannot be broadcast", () => _ = M23 < M45);
        Throws<ArgumentException>("Where: shapes [4] and [2,3] cannot be broadcast", () => Tensor.Where(Tensor.Ones([4], DType.Bool), M23, M23));
        Throws<ArgumentException>("Expand: cannot expand [2,3] to [2,4]: dimension 1 is 3, not 1", () => M23.Expand(2, 4));
    }

    [Fact]
    public void Reshape_And_View_WithWrongElementCount()
    {
        Throws<ArgumentException>("Reshape: shape [4] is invalid for a tensor of 6 elements [2,3]", () => M23.Reshape(4));
        Throws<ArgumentException>("View: shape [4,-1] is invalid for a tensor of 6 elements [2,3]", () => M23.View(4, -1));
        Throws<ArgumentException>("Reshape: only one dimension can be -1, got [-1,-1]", () => M23.Reshape(-1, -1));
        Throws<InvalidOperationException>("View: a tensor of shape [3,2] with strides [1,3] cannot be viewed as [6] without a copy; use Reshape", () => M23.T.View(6));
    }

    [Fact]
    public void OutOfRangeAxis_NamesOpAxisAndRank()
    {
        Throws<ArgumentOutOfRangeException>("Sum: axis 2 is out of range for a tensor of rank 2 (valid: -2..1)", () => M23.Sum(2));
        Throws<ArgumentOutOfRangeException>("Softmax: axis -3 is out of range for a tensor of rank 2 (valid: -2..1)", () => M23.Softmax(-3));
        Throws<ArgumentOutOfRangeException>("Transpose: axis 5 is out of range", () => M23.Transpose(0, 5));
        Throws<ArgumentOutOfRangeException>("Concat: axis 2 is out of range", () => Tensor.Concat([M23, M23], 2));
        Throws<ArgumentException>("Sum: dimension list [0,-2] repeats a dimension", () => M23.Sum([0, -2]));
        Throws<ArgumentException>("Permute: order [0,0] repeats dimension 0", () => M23.Permute(0, 0));
    }

    [Fact]
    public void Gather_IndexOutOfRange_And_WrongIndexDtype()
    {
        var x = Tensor.Zeros(2, 3);
        Throws<ArgumentOutOfRangeException>("Gather: index 3 is out of range for dimension 1 of size 3", () => x.Gather(1, Tensor.FromArray(new long[,] { { 0, 3 } })));
        Throws<ArgumentException>("Gather: indices must be Int64 or Int32, got float32", () => x.Gather(1, Tensor.Zeros(2, 3)));
        Throws<ArgumentException>("Gather: index [2] must have the same rank as the input [2,3]", () => x.Gather(1, Tensor.Zeros([2], DType.Int64)));
        Throws<ArgumentOutOfRangeException>("IndexSelect: index 5 is out of range for dimension 0 of size 2", () => x.IndexSelect(0, Tensor.FromArray(new long[] { 5 })));
        Throws<ArgumentException>("IndexSelect: indices must be Int64 or Int32, got bool", () => x.IndexSelect(0, Tensor.Ones([1], DType.Bool)));
        Throws<ArgumentOutOfRangeException>("ScatterAdd: index 4 is out of range for dimension 0 of size 2", () => x.ScatterAdd(0, Tensor.FromArray(new long[,] { { 4 } }), x));
        Throws<ArgumentException>("OneHot: class values must be in [0, 3), got range [0, 5]", () => Tensor.FromArray(new long[] { 0, 5 }).OneHot(3));
    }

    [Fact]
    public void Concat_And_Stack_ShapeMismatch()
    {
        Throws<ArgumentException>("Concat: shapes [2,3] and [2,4] differ in dimension 1 (only dimension 0 may differ)", () => Tensor.Concat([M23, Tensor.Zeros(2, 4)]));
        Throws<ArgumentException>("Concat: tensors must have the same rank, got [2,3] and [3]", () => Tensor.Concat([M23, Tensor.Zeros(3)]));
        Throws<ArgumentException>("Concat: needs at least one tensor", () => Tensor.Concat([]));
        Throws<ArgumentException>("Stack: all tensors need the same shape, got [2,3] and [4,5]", () => Tensor.Stack([M23, M45]));
        Throws<ArgumentException>("Split: sizes [1,1] add up to 2, but dimension 1 of [2,3] has size 3", () => M23.Split([1, 1], 1));
    }

    [Fact]
    public void WrongDtype_ForMasksAndRandom()
    {
        Throws<ArgumentException>("Where: condition must be Bool, got float32", () => Tensor.Where(M23, M23, M23));
        Throws<ArgumentException>("MaskedFill: mask must be Bool, got float32", () => M23.MaskedFill(M23, 0));
        Throws<ArgumentException>("MaskedFill: mask [4,2,3] would broadcast the tensor [2,3] to [4,2,3]", () => M23.MaskedFill(Tensor.Ones([4, 2, 3], DType.Bool), 0));
        Throws<ArgumentException>("Randint: high (3) must be greater than low (3)", () => Tensor.Randint(3, 3, [2]));
        Throws<ArgumentException>("Randn: needs a floating dtype, got int64", () => Tensor.Randn([2], dtype: DType.Int64));
        Throws<ArgumentException>("Bernoulli: probability must be in [0, 1], got 1.5", () => Tensor.Bernoulli([2], 1.5));
    }

    [Fact]
    public void BadViewArguments_NameTheOpAndShape()
    {
        Throws<ArgumentException>("Narrow: start 2 and length 2 exceed dimension 1 of size 3 in [2,3]", () => M23.Narrow(1, 2, 2));
        Throws<ArgumentException>("Select: index 2 is out of range for dimension 0 of size 2 in [2,3]", () => M23.Select(0, 2));
        Throws<ArgumentException>("Slice: step must be positive, got 0", () => M23.Slice(0, step: 0));
        Throws<InvalidOperationException>("Item: only one-element tensors have a single value; this one has shape [2,3]", () => M23.Item());
        Throws<ArgumentException>("FromArray: 5 values cannot fill shape [2,3] (6 elements)", () => Tensor.FromArray(new float[5], [2, 3]));
        Throws<ArgumentException>("Pad: padding [1,2,3] must hold (before, after) pairs for at most 2 dimensions", () => M23.Pad([1, 2, 3]));
        Throws<ArgumentException>("Max: cannot reduce dimension 0 of size 0 in [0,3]", () => Tensor.Zeros(0, 3).Amax([0]));
        Throws<ArgumentException>("ArgMax: cannot reduce dimension 1 of size 0 in [3,0]", () => Tensor.Zeros(3, 0).ArgMax(1));
    }
}
