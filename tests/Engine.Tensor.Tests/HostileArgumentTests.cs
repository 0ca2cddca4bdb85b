using Xunit;

namespace Engine.Tests;

/// <summary>
/// Absurd arguments (overflowing offsets and lengths, element counts that wrap, values a dtype cannot hold, shapes too
/// large to allocate) throw ArgumentException naming the op and the values, before anything is read, written or allocated.
/// </summary>
public class HostileArgumentTests
{
    static void Throws<TException>(string expectedStart, Action act) where TException : Exception
    {
        var e = Assert.ThrowsAny<TException>(act);
        Assert.StartsWith(expectedStart, e.Message);
    }

    [Fact]
    public void Narrow_LengthNearIntMax_IsRejectedInsteadOfWrappingPastTheBoundCheck()
        => Throws<ArgumentException>("Narrow: start 2 and length 2147483647 exceed dimension 0 of size 3",
            () => Tensor.Zeros(3, 4).Narrow(0, 2, int.MaxValue));

    [Fact]
    public void Slice_HugeStep_DoesNotOverflowTheLength()
    {
        var s = Tensor.Arange(0, 5, 1, DType.Float32).Slice(0, 1, 5, int.MaxValue);
        Assert.Equal(new float[] { 1 }, s.ToArray<float>());
    }

    [Fact]
    public void Pad_And_Concat_And_Split_And_Chunk_RejectSizesThatOverflowInt()
    {
        Throws<ArgumentException>("Pad: padding [2147483647,2147483647]", () => Tensor.Zeros(2).Pad([int.MaxValue, int.MaxValue]));
        var big = Tensor.Zeros(1).Expand(int.MaxValue);
        Throws<ArgumentException>("Concat: dimension 0 would have 4294967294 elements", () => Tensor.Concat([big, big]));
        Throws<ArgumentException>("Split: sizes [2147483647,2147483647,2]", () => Tensor.Zeros(4).Split([int.MaxValue, int.MaxValue, 2]));
        Assert.Equal(4, Tensor.Zeros(4).Chunk(int.MaxValue).Length);
    }

    [Fact]
    public void Zeros_WhoseElementCountOverflowsLong_IsRejectedNotZero()
        => Throws<ArgumentException>("Zeros: shape [65536,65536,65536,65536] has more elements than a tensor can index",
            () => Tensor.Zeros([65536, 65536, 65536, 65536], DType.Float32));

    [Fact]
    public void Expand_WhoseElementCountOverflowsLong_IsRejectedInsteadOfSummingToZero()
        => Throws<ArgumentException>("Expand: shape [65536,65536,65536,65536] has more elements",
            () => Tensor.Ones(1).Expand(65536, 65536, 65536, 65536).Sum());

    [Fact]
    public void Reshape_OfAnEmptyTensor_ToAnOverflowingShape_IsRejected()
        => Throws<ArgumentException>("Reshape: shape [0,65536,65536,65536,65536]",
            () => Tensor.Zeros(0).Reshape(0, 65536, 65536, 65536, 65536));

    [Fact]
    public void FromArray_WithNegativeSizes_IsRejectedEvenWhenTheProductMatches()
        => Throws<ArgumentException>("FromArray: shape [-2,-3] has negative size -2 at dimension 0",
            () => Tensor.FromArray(new float[6], [-2, -3]));

    [Fact]
    public void Flatten_IntoMoreThanOneDimensionHolds_IsRejected()
        => Throws<ArgumentException>("Flatten: dimensions 0..1 of [65536,65536] merge into 4294967296 elements",
            () => Tensor.Zeros(1, 1).Expand(65536, 65536).Flatten());

    [Fact]
    public void Zeros_LargerThanTheBackendHolds_ThrowsTheSizeLimitException_NotOutOfMemory()
    {
        var e = Assert.Throws<TensorSizeLimitException>(() => Tensor.Zeros([65536, 65536], DType.Float32));
        Assert.StartsWith("Zeros: a float32 tensor of shape [65536,65536] (4294967296 elements, 17179869184 bytes) exceeds the backend's limit", e.Message);
        Assert.Equal(17179869184L, e.Bytes);
        Assert.Equal("Zeros", e.Op);
        Assert.IsAssignableFrom<ArgumentException>(e);
    }

    [Fact]
    public void Full_WithAValueTheIntegerDTypeCannotHold_IsRejected()
    {
        Throws<ArgumentException>("Full: value NaN cannot be represented in int32", () => Tensor.Full([3], double.NaN, DType.Int32));
        Throws<ArgumentException>("Full: value 1E+300 cannot be represented in int64", () => Tensor.Full([3], 1e300, DType.Int64));
        Assert.Equal(new[] { int.MinValue }, Tensor.Full([1], int.MinValue, DType.Int32).ToArray<int>());
    }

    [Fact]
    public void Arange_And_Linspace_AskingForMoreValuesThanATensorHolds_AreRejected()
    {
        Throws<ArgumentException>("Arange: start 0, end 3000000000 and step 1 give 3000000000 values", () => Tensor.Arange(0, 3e9));
        Throws<ArgumentException>("Arange: start 0, end Infinity and step 1 must be finite", () => Tensor.Arange(0, double.PositiveInfinity));
        Throws<ArgumentException>("Linspace: 2147483647 steps are more than a tensor holds", () => Tensor.Linspace(0, 1, int.MaxValue));
    }

    [Fact]
    public void Embedding_WithAnOutOfRangeId_NamesEmbeddingAndTheTableSize()
    {
        var table = Tensor.Zeros(4, 2);
        Throws<ArgumentOutOfRangeException>("Embedding: ids must be in [0, 4) for a table of 4 rows (IndexSelect: index 9",
            () => table.Embedding(Tensor.FromArray(new long[] { 1, 9 })));
    }

    [Fact]
    public void Printing_ATensorOfHugeRank_DoesNotOverflowTheStack()
    {
        var shape = Enumerable.Repeat(1, 200_001).ToArray();
        var t = Tensor.Zeros(1).Reshape(shape);
        var text = t.ToString();
        Assert.StartsWith("tensor(<1 elements, rank 200001: printing shows at most rank 64>", text);
        Assert.True(text.Length < 200);
    }
}
