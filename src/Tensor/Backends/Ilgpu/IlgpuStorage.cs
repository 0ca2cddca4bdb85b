using ILGPU;
using ILGPU.Runtime;

namespace Engine.Backends.Ilgpu;

/// <summary>
/// Storage of an ILGPU backend: a device buffer of the element type (Bool as one byte per element, 0 or 1).
/// The buffer is released by the GC's finalisation of the ILGPU buffer object.
/// </summary>
public sealed class IlgpuStorage : Storage
{
    readonly IlgpuBackend _backend;

    internal IlgpuStorage(IlgpuBackend backend, MemoryBuffer buffer, DType dtype, long length) : base(dtype, length)
    {
        _backend = backend;
        Buffer = buffer;
    }

    /// <summary>The device buffer behind this storage.</summary>
    public MemoryBuffer Buffer { get; }

    public override IBackend Backend => _backend;

    /// <summary>The whole buffer as a typed view; Bool storage is read as byte.</summary>
    internal ArrayView<T> View<T>() where T : unmanaged
        => Buffer is MemoryBuffer1D<T, Stride1D.Dense> typed
            ? typed.View
            : throw new InvalidOperationException($"storage holds {DType.Name()}, not {typeof(T).Name}");
}
