namespace Engine;

/// <summary>Shape arithmetic shared by every op: element counts, contiguous strides, broadcasting, axis normalisation.</summary>
public static class Shapes
{
    /// <summary>Number of elements of a shape (1 for a scalar); throws when a size is negative or the count overflows a long.</summary>
    public static long Numel(ReadOnlySpan<int> shape) => Validate("Numel", shape);

    /// <summary>
    /// The one check every tensor's shape passes: each size is at least 0 and the element count fits a long
    /// and so do the contiguous strides, zeros skipped (checked, so nothing wraps). Returns the element count; throws ArgumentException naming <paramref name="op"/>.
    /// </summary>
    public static long Validate(string op, ReadOnlySpan<int> shape)
    {
        bool empty = false;
        for (int i = 0; i < shape.Length; i++)
        {
            if (shape[i] < 0)
                throw new ArgumentException($"{op}: shape {Format(shape)} has negative size {shape[i]} at dimension {i} (sizes must be >= 0)");
            empty |= shape[i] == 0;
        }
        // The product skips zeros, as ContiguousStrides does: an empty tensor's strides must not wrap either.
        long n = 1;
        foreach (var d in shape)
        {
            if (d == 0) continue;
            if (n > long.MaxValue / d)
                throw new ArgumentException($"{op}: shape {Format(shape)} has more elements than a tensor can index ({long.MaxValue})");
            n *= d;
        }
        return empty ? 0 : n;
    }

    /// <summary>Row-major strides of a contiguous tensor of this shape.</summary>
    public static long[] ContiguousStrides(ReadOnlySpan<int> shape)
    {
        var strides = new long[shape.Length];
        long s = 1;
        for (int i = shape.Length - 1; i >= 0; i--)
        {
            strides[i] = s;
            s *= Math.Max(shape[i], 1);
        }
        return strides;
    }

    /// <summary>True when (shape, strides) is row-major contiguous; size-1 dimensions may have any stride.</summary>
    public static bool IsContiguous(ReadOnlySpan<int> shape, ReadOnlySpan<long> strides)
    {
        long expected = 1;
        for (int i = shape.Length - 1; i >= 0; i--)
        {
            if (shape[i] == 1) continue;
            if (strides[i] != expected) return false;
            expected *= Math.Max(shape[i], 1); // as ContiguousStrides, so fresh empty tensors count as contiguous
        }
        return true;
    }

    /// <summary>Formats a shape as <c>[2,3]</c> for messages and printing.</summary>
    public static string Format(ReadOnlySpan<int> shape) => shape.Length <= MaxFormattedRank
        ? "[" + string.Join(",", shape.ToArray()) + "]"
        : "[" + string.Join(",", shape[..8].ToArray()) + $",... ({shape.Length} dimensions)]";

    // Messages stay readable (and small) when a hostile shape has thousands of dimensions.
    const int MaxFormattedRank = 64;

    /// <summary>NumPy/PyTorch broadcasting of two shapes; throws naming <paramref name="op"/> when they are incompatible.</summary>
    public static int[] Broadcast(string op, ReadOnlySpan<int> a, ReadOnlySpan<int> b)
    {
        int rank = Math.Max(a.Length, b.Length);
        var result = new int[rank];
        for (int i = 0; i < rank; i++)
        {
            int da = i < rank - a.Length ? 1 : a[i - (rank - a.Length)];
            int db = i < rank - b.Length ? 1 : b[i - (rank - b.Length)];
            if (da != db && da != 1 && db != 1)
                throw new ArgumentException(
                    $"{op}: shapes {Format(a)} and {Format(b)} cannot be broadcast: dimension {i} is {da} vs {db} (sizes must match or one must be 1)");
            result[i] = da == 1 ? db : da;
        }
        return result;
    }

    /// <summary>Maps a possibly negative axis into [0, rank); throws naming the op when out of range.</summary>
    public static int NormalizeAxis(string op, int axis, int rank)
    {
        int r = Math.Max(rank, 1);
        if (axis < -r || axis >= r)
            throw new ArgumentOutOfRangeException(nameof(axis), $"{op}: axis {axis} is out of range for a tensor of rank {rank} (valid: {-r}..{r - 1})");
        return axis < 0 ? axis + r : axis;
    }
}
