using ILGPU;
using ILGPU.Runtime;

namespace Engine.Backends.Ilgpu;

/// <summary>
/// Storage of an ILGPU backend: a device buffer of the element type (Bool as one byte per element, 0 or 1).
/// When the storage is collected its buffer goes back to the backend's <see cref="BufferPool"/> for reuse.
/// </summary>
public sealed class IlgpuStorage : Storage
{
    readonly IlgpuBackend _backend;

    readonly Type _elementType;

    internal IlgpuStorage(IlgpuBackend backend, MemoryBuffer buffer, Type elementType, DType dtype, long length) : base(dtype, length)
    {
        _backend = backend;
        _elementType = elementType;
        Buffer = buffer;
    }

    /// <summary>Hands the buffer back to the pool; no tensor can reach this storage any more.</summary>
    ~IlgpuStorage() => _backend.Pool.Return(Buffer, _elementType);

    /// <summary>The device buffer behind this storage (its size class may exceed <see cref="Storage.Length"/>).</summary>
    public MemoryBuffer Buffer { get; }

    public override IBackend Backend => _backend;

    /// <summary>The whole buffer as a typed view; Bool storage is read as byte.</summary>
    internal ArrayView<T> View<T>() where T : unmanaged
        => Buffer is MemoryBuffer1D<T, Stride1D.Dense> typed
            ? typed.View
            : throw new InvalidOperationException($"storage holds {DType.Name()}, not {typeof(T).Name}");
}
