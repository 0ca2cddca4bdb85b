namespace Engine;

/// <summary>
/// Process-wide bounds on what a tensor may allocate, checked before allocation so an absurd shape (from an argument
/// or a file) fails with <see cref="TensorSizeLimitException"/> instead of exhausting memory.
/// <c>TensorLimits.MaxTensorBytes = 2L &lt;&lt; 30; // no single tensor above 2 GiB</c>
/// </summary>
public static class TensorLimits
{
    static long _maxTensorBytes = long.MaxValue;

    /// <summary>
    /// The largest tensor, in bytes, that any op may allocate (default: no limit beyond the backend's, which is
    /// <see cref="Array.MaxLength"/> elements per tensor). Applications that load untrusted files may lower it.
    /// </summary>
    public static long MaxTensorBytes
    {
        get => Volatile.Read(ref _maxTensorBytes);
        set
        {
            if (value <= 0) throw new ArgumentOutOfRangeException(nameof(value), $"TensorLimits.MaxTensorBytes must be positive, got {value}");
            Volatile.Write(ref _maxTensorBytes, value);
        }
    }

    /// <summary>Throws <see cref="TensorSizeLimitException"/> when a tensor of this shape and dtype may not be allocated.</summary>
    public static void CheckAllocation(string op, int[] shape, DType dtype, long elements)
    {
        int size = dtype.SizeOf();
        long bytes = elements > long.MaxValue / size ? long.MaxValue : elements * size;
        if (elements > Array.MaxLength)
            throw new TensorSizeLimitException(op, shape, dtype, elements, bytes, (long)Array.MaxLength * size,
                $"the backend's limit of {Array.MaxLength} elements per tensor");
        long limit = MaxTensorBytes;
        if (bytes > limit)
            throw new TensorSizeLimitException(op, shape, dtype, elements, bytes, limit, "TensorLimits.MaxTensorBytes");
    }
}
