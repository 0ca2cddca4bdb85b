using Engine.Backends;
using Engine.Backends.Cpu;
using Engine.Recording;

namespace Engine;

/// <summary>
/// An n-dimensional array: a strided view (shape, strides, offset) into a backend's storage.
/// Views share storage; ops return new tensors and never modify their inputs.
/// The class is split by op family across <c>Tensor.*.cs</c> files.
/// </summary>
public sealed partial class Tensor
{
    readonly int[] _shape;
    readonly long[] _strides;

    internal Tensor(Storage storage, int[] shape, long[] strides, long offset)
    {
        CheckLayout(storage, shape, strides, offset);
        Storage = storage;
        _shape = shape;
        _strides = strides;
        Offset = offset;
    }

    internal Tensor(Storage storage, int[] shape) : this(storage, shape, Shapes.ContiguousStrides(shape), 0) { }

    /// <summary>The buffer this tensor views.</summary>
    public Storage Storage { get; }

    /// <summary>Element offset of this view into <see cref="Storage"/>.</summary>
    public long Offset { get; }

    /// <summary>Size of each dimension (a copy; tensors are immutable views).</summary>
    public int[] Shape => (int[])_shape.Clone();

    /// <summary>Element stride of each dimension.</summary>
    public long[] Strides => (long[])_strides.Clone();

    /// <summary>Number of dimensions.</summary>
    public int Rank => _shape.Length;

    /// <summary>Number of elements.</summary>
    public long Numel => Shapes.Numel(_shape);

    /// <summary>Element type.</summary>
    public DType DType => Storage.DType;

    /// <summary>Where the storage lives.</summary>
    public Device Device => Backend.Device;

    /// <summary>Size of one dimension; negative counts from the end.</summary>
    public int Size(int dim) => _shape[Shapes.NormalizeAxis("Size", dim, Rank)];

    /// <summary>True when elements are laid out row-major without gaps.</summary>
    public bool IsContiguous => Shapes.IsContiguous(_shape, _strides);

    internal IBackend Backend => Storage.Backend;

    internal StridedView Strided => new(Storage, _shape, _strides, Offset);

    internal ReadOnlySpan<int> ShapeSpan => _shape;

    /// <summary>A fresh contiguous output tensor on the default (CPU) backend; <paramref name="op"/> names the caller in errors.</summary>
    internal static Tensor Empty(int[] shape, DType dtype, IBackend? backend = null, bool zeroed = false, string op = "Empty")
    {
        long numel = Shapes.Validate(op, shape);
        TensorLimits.CheckAllocation(op, shape, dtype, numel);
        backend ??= CpuBackend.Instance;
        return new Tensor(backend.Allocate(dtype, numel, zeroed), (int[])shape.Clone());
    }

    // The backstop under every view and constructor: a valid shape, and every element the view can reach lies
    // inside its storage, so no argument (however large) can make a kernel read or write out of bounds.
    static void CheckLayout(Storage storage, int[] shape, long[] strides, long offset)
    {
        long numel = Shapes.Validate("Tensor", shape);
        if (strides.Length != shape.Length)
            throw new ArgumentException($"Tensor: {strides.Length} strides for shape {Shapes.Format(shape)}");
        if (numel == 0) return;
        long low = offset, high = offset;
        try
        {
            checked
            {
                for (int i = 0; i < shape.Length; i++)
                {
                    long reach = (shape[i] - 1) * strides[i];
                    if (reach > 0) high += reach;
                    else low += reach;
                }
            }
        }
        catch (OverflowException)
        {
            high = long.MaxValue;
        }
        if (low < 0 || high >= storage.Length)
            throw new ArgumentException(
                $"Tensor: a view of shape {Shapes.Format(shape)} at offset {offset} reaches elements {low}..{high}, outside its storage of {storage.Length} elements");
    }

    /// <summary>The elements in row-major order as a new array of <typeparamref name="T"/> (which must match <see cref="DType"/>).</summary>
    public T[] ToArray<T>() where T : unmanaged
    {
        if (DTypes.Of<T>() != DType)
            throw new InvalidOperationException($"ToArray<{typeof(T).Name}>: tensor has dtype {DType.Name()}; call .To(DType.{DTypes.Of<T>()}) first");
        var result = new T[Numel];
        Backend.ToHost<T>(Strided, result);
        return result;
    }

    /// <summary>The elements converted to double, in row-major order (handy in tests and printing).</summary>
    public double[] ToDoubleArray() => To(DType.Float64).ToArray<double>();

    /// <summary>The value of a one-element tensor.</summary>
    public T Item<T>() where T : unmanaged
    {
        if (Numel != 1)
            throw new InvalidOperationException($"Item: only one-element tensors have a single value; this one has shape {Shapes.Format(_shape)}");
        return ToArray<T>()[0];
    }

    /// <summary>The value of a one-element tensor as double, whatever its dtype.</summary>
    public double Item() => Numel == 1
        ? ToDoubleArray()[0]
        : throw new InvalidOperationException($"Item: only one-element tensors have a single value; this one has shape {Shapes.Format(_shape)}");

    /// <summary>This tensor if already contiguous, otherwise a contiguous copy.</summary>
    public Tensor Contiguous() => IsContiguous ? this : Clone();

    /// <summary>A contiguous copy that shares nothing with this tensor.</summary>
    public Tensor Clone()
    {
        var result = Empty(_shape, DType, Backend);
        Backend.Copy(Strided, result.Strided);
        return result.Record(OpKind.Clone, [this]);
    }

    /// <summary>This tensor converted to <paramref name="dtype"/> (itself when already of that dtype).</summary>
    public Tensor To(DType dtype)
    {
        if (dtype == DType) return this;
        var result = Empty(_shape, dtype, Backend);
        Backend.Copy(Strided, result.Strided);
        return DType.IsFloating() && dtype.IsFloating()
            ? result.Record(OpKind.Cast, [this])
            : result.RecordNonDifferentiable($"Cast to {dtype.Name()}", this);
    }

    /// <summary>
    /// This tensor on <paramref name="device"/> (itself when already there), copied through host memory.
    /// Floating tensors stay differentiable: the gradient moves back to this tensor's device.
    /// <c>var x = Tensor.Randn([2, 3]).To(Device.IlgpuCpu);</c>
    /// </summary>
    public Tensor To(Device device)
    {
        if (device == Device) return this;
        var target = device.Backend;
        var storage = DType switch
        {
            DType.Float32 => Moved<float>(target),
            DType.Float64 => Moved<double>(target),
            DType.Int32 => Moved<int>(target),
            DType.Int64 => Moved<long>(target),
            _ => Moved<bool>(target),
        };
        var result = new Tensor(storage, (int[])_shape.Clone());
        return DType.IsFloating() ? result.Record(OpKind.Cast, [this]) : result.RecordNonDifferentiable($"To {device}", this);
    }

    Storage Moved<T>(IBackend target) where T : unmanaged => target.FromHost<T>(ToArray<T>());

    /// <summary>Checks a condition of an op's arguments; throws ArgumentException with the op's message otherwise.</summary>
    internal static void Require(bool condition, string message)
    {
        if (!condition) throw new ArgumentException(message);
    }
}

public sealed partial class Tensor
{
    /// <summary>PyTorch-style text: values, and dtype/shape where PyTorch would need them.</summary>
    public override string ToString() => TensorFormatter.Format(this);
}
