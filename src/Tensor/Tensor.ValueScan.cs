using System.Numerics.Tensors;

namespace Engine;

// Scans of a tensor's values through a raw host copy: no op runs, so nothing is recorded or observed. Anomaly
// detection uses them from inside an op observer, where running an op (a Cast to Float64, say) would observe itself.
public sealed partial class Tensor
{
    /// <summary>True when a floating tensor holds a NaN (false for other dtypes).</summary>
    internal bool HasNaN() => DType switch
    {
        DType.Float32 => TensorPrimitives.IsNaNAny<float>(HostCopy<float>()),
        DType.Float64 => TensorPrimitives.IsNaNAny<double>(HostCopy<double>()),
        _ => false,
    };

    /// <summary>True when a floating tensor holds a NaN or an infinity (false for other dtypes).</summary>
    internal bool HasNonFinite() => DType switch
    {
        DType.Float32 => !TensorPrimitives.IsFiniteAll<float>(HostCopy<float>()),
        DType.Float64 => !TensorPrimitives.IsFiniteAll<double>(HostCopy<double>()),
        _ => false,
    };

    T[] HostCopy<T>() where T : unmanaged
    {
        var values = new T[Numel];
        Backend.ToHost<T>(Strided, values);
        return values;
    }
}
