namespace Engine.Backends;

/// <summary>
/// What a kernel needs to read or write a tensor: its storage and the strided layout into it
/// (element strides, element offset). Broadcast dimensions have stride 0.
/// </summary>
public readonly record struct StridedView(Storage Storage, int[] Shape, long[] Strides, long Offset)
{
    /// <summary>Number of elements in the view.</summary>
    public long Numel => Shapes.Numel(Shape);

    /// <summary>True when the view is row-major contiguous.</summary>
    public bool IsContiguous => Shapes.IsContiguous(Shape, Strides);

    /// <summary>Rank (number of dimensions).</summary>
    public int Rank => Shape.Length;

    /// <summary>A contiguous view over the start of a fresh storage.</summary>
    public static StridedView Contiguous(Storage storage, int[] shape) => new(storage, shape, Shapes.ContiguousStrides(shape), 0);

    /// <summary>The same elements with dimensions reordered (no copy).</summary>
    public StridedView Permute(ReadOnlySpan<int> order)
    {
        var shape = new int[order.Length];
        var strides = new long[order.Length];
        for (int i = 0; i < order.Length; i++)
        {
            shape[i] = Shape[order[i]];
            strides[i] = Strides[order[i]];
        }
        return this with { Shape = shape, Strides = strides };
    }
}
