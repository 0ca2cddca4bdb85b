namespace Engine;

/// <summary>
/// Thrown before any allocation when a tensor would be larger than <see cref="TensorLimits.MaxTensorBytes"/> or than
/// the largest .NET array (<see cref="Array.MaxLength"/> elements), which every tensor must fit so it can be read back to host.
/// An <see cref="ArgumentException"/>: the arguments asked for too much, the process is fine (unlike OutOfMemoryException,
/// which hosts treat as fatal). <c>catch (TensorSizeLimitException e) { Console.WriteLine(e.Bytes); }</c>
/// </summary>
public sealed class TensorSizeLimitException : ArgumentException
{
    /// <summary>Creates the exception for <paramref name="op"/> asking for a tensor of <paramref name="shape"/> and <paramref name="bytes"/> bytes.</summary>
    public TensorSizeLimitException(string op, int[] shape, DType dtype, long elements, long bytes, long limitBytes, string limitName)
        : base($"{op}: a {dtype.Name()} tensor of shape {Shapes.Format(shape)} ({elements} elements, {(bytes == long.MaxValue ? "over " + long.MaxValue : bytes.ToString())} bytes) exceeds {limitName} of {limitBytes} bytes")
    {
        Op = op;
        Shape = (int[])shape.Clone();
        Elements = elements;
        Bytes = bytes;
        LimitBytes = limitBytes;
    }

    /// <summary>The op that asked for the tensor.</summary>
    public string Op { get; }

    /// <summary>The requested shape.</summary>
    public int[] Shape { get; }

    /// <summary>The requested number of elements.</summary>
    public long Elements { get; }

    /// <summary>The requested size in bytes (<see cref="long.MaxValue"/> when even that overflows).</summary>
    public long Bytes { get; }

    /// <summary>The limit that was exceeded, in bytes.</summary>
    public long LimitBytes { get; }
}
