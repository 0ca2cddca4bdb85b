namespace Engine.Backends.Ilgpu;

/// <summary>
/// How a kernel reads and writes one element type: floating elements compute in double, integer ones (and Bool) in
/// long, so one generic kernel per op family serves every dtype. Implemented by empty structs, which ILGPU
/// specialises per instantiation (no virtual calls on the device).
/// </summary>
public interface IElement<T> where T : unmanaged
{
    /// <summary>True for Int32, Int64 and Bool: arithmetic runs in long.</summary>
    bool IsInteger { get; }
    /// <summary>Smallest value, for saturating conversions from other integers.</summary>
    long Min { get; }
    /// <summary>Largest value, for saturating conversions from other integers.</summary>
    long Max { get; }
    /// <summary>The value as double.</summary>
    double ToDouble(T v);
    /// <summary>A double as this type; integers truncate toward zero and saturate (NaN to 0), as PyTorch's casts.</summary>
    T FromDouble(double v);
    /// <summary>The value as long.</summary>
    long ToLong(T v);
    /// <summary>A long as this type (wrapping for Int32, as its arithmetic does).</summary>
    T FromLong(long v);
}

/// <summary>Float32 elements.</summary>
public readonly struct F32 : IElement<float>
{
    /// <inheritdoc/>
    public bool IsInteger => false;
    /// <inheritdoc/>
    public long Min => long.MinValue;
    /// <inheritdoc/>
    public long Max => long.MaxValue;
    /// <inheritdoc/>
    public double ToDouble(float v) => v;
    /// <inheritdoc/>
    public float FromDouble(double v) => (float)v;
    /// <inheritdoc/>
    public long ToLong(float v) => (long)v;
    /// <inheritdoc/>
    public float FromLong(long v) => v;
}

/// <summary>Float64 elements.</summary>
public readonly struct F64 : IElement<double>
{
    /// <inheritdoc/>
    public bool IsInteger => false;
    /// <inheritdoc/>
    public long Min => long.MinValue;
    /// <inheritdoc/>
    public long Max => long.MaxValue;
    /// <inheritdoc/>
    public double ToDouble(double v) => v;
    /// <inheritdoc/>
    public double FromDouble(double v) => v;
    /// <inheritdoc/>
    public long ToLong(double v) => (long)v;
    /// <inheritdoc/>
    public double FromLong(long v) => v;
}

/// <summary>Int32 elements.</summary>
public readonly struct I32 : IElement<int>
{
    /// <inheritdoc/>
    public bool IsInteger => true;
    /// <inheritdoc/>
    public long Min => int.MinValue;
    /// <inheritdoc/>
    public long Max => int.MaxValue;
    /// <inheritdoc/>
    public double ToDouble(int v) => v;
    /// <inheritdoc/>
    public int FromDouble(double v) => double.IsNaN(v) ? 0 : v >= int.MaxValue ? int.MaxValue : v <= int.MinValue ? int.MinValue : (int)v;
    /// <inheritdoc/>
    public long ToLong(int v) => v;
    /// <inheritdoc/>
    public int FromLong(long v) => unchecked((int)v);
}

/// <summary>Int64 elements.</summary>
public readonly struct I64 : IElement<long>
{
    /// <inheritdoc/>
    public bool IsInteger => true;
    /// <inheritdoc/>
    public long Min => long.MinValue;
    /// <inheritdoc/>
    public long Max => long.MaxValue;
    /// <inheritdoc/>
    public double ToDouble(long v) => v;
    /// <inheritdoc/>
    public long FromDouble(double v) => double.IsNaN(v) ? 0 : v >= 9.2233720368547758E18 ? long.MaxValue : v <= -9.2233720368547758E18 ? long.MinValue : (long)v;
    /// <inheritdoc/>
    public long ToLong(long v) => v;
    /// <inheritdoc/>
    public long FromLong(long v) => v;
}

/// <summary>Bool elements stored as bytes 0 and 1; any non-zero value converts to 1.</summary>
public readonly struct B8 : IElement<byte>
{
    /// <inheritdoc/>
    public bool IsInteger => true;
    /// <inheritdoc/>
    public long Min => long.MinValue;
    /// <inheritdoc/>
    public long Max => long.MaxValue;
    /// <inheritdoc/>
    public double ToDouble(byte v) => v;
    /// <inheritdoc/>
    public byte FromDouble(double v) => v != 0 ? (byte)1 : (byte)0;
    /// <inheritdoc/>
    public long ToLong(byte v) => v;
    /// <inheritdoc/>
    public byte FromLong(long v) => v != 0 ? (byte)1 : (byte)0;
}
