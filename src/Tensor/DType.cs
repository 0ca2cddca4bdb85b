namespace Engine;

/// <summary>Element type of a tensor. <see cref="Float32"/> is the default, as in PyTorch.</summary>
public enum DType
{
    Float32,
    Float64,
    Int32,
    Int64,
    Bool,
}

/// <summary>Facts about dtypes: sizes, names, and PyTorch's type-promotion order.</summary>
public static class DTypes
{
    /// <summary>Bytes per element.</summary>
    public static int SizeOf(this DType dtype) => dtype switch
    {
        DType.Float32 => 4,
        DType.Float64 => 8,
        DType.Int32 => 4,
        DType.Int64 => 8,
        DType.Bool => 1,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, null),
    };

    /// <summary>True for Float32 and Float64.</summary>
    public static bool IsFloating(this DType dtype) => dtype is DType.Float32 or DType.Float64;

    /// <summary>True for Int32 and Int64.</summary>
    public static bool IsInteger(this DType dtype) => dtype is DType.Int32 or DType.Int64;

    /// <summary>PyTorch-style lower-case name (<c>float32</c>, <c>int64</c>, <c>bool</c>).</summary>
    public static string Name(this DType dtype) => dtype.ToString().ToLowerInvariant();

    // Promotion lattice of PyTorch restricted to our dtypes: bool < int32 < int64 < float32 < float64.
    static int Rank(DType d) => d switch
    {
        DType.Bool => 0,
        DType.Int32 => 1,
        DType.Int64 => 2,
        DType.Float32 => 3,
        DType.Float64 => 4,
        _ => throw new ArgumentOutOfRangeException(nameof(d)),
    };

    /// <summary>The dtype a binary op computes in (PyTorch's <c>torch.result_type</c> for two tensors).</summary>
    public static DType Promote(DType a, DType b) => Rank(a) >= Rank(b) ? a : b;

    /// <summary>The dtype floating-point math (exp, log, mean, ...) runs in for an input of this dtype.</summary>
    public static DType ToFloating(this DType d) => d.IsFloating() ? d : DType.Float32;

    /// <summary>The dtype for a CLR element type.</summary>
    public static DType Of<T>() where T : unmanaged
    {
        if (typeof(T) == typeof(float)) return DType.Float32;
        if (typeof(T) == typeof(double)) return DType.Float64;
        if (typeof(T) == typeof(int)) return DType.Int32;
        if (typeof(T) == typeof(long)) return DType.Int64;
        if (typeof(T) == typeof(bool)) return DType.Bool;
        throw new NotSupportedException($"No tensor dtype for CLR type {typeof(T).Name}; use float, double, int, long or bool.");
    }

    /// <summary>The CLR element type of a dtype.</summary>
    public static Type ClrType(this DType d) => d switch
    {
        DType.Float32 => typeof(float),
        DType.Float64 => typeof(double),
        DType.Int32 => typeof(int),
        DType.Int64 => typeof(long),
        DType.Bool => typeof(bool),
        _ => throw new ArgumentOutOfRangeException(nameof(d)),
    };
}
