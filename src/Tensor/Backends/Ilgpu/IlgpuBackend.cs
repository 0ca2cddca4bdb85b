using System.Collections.Concurrent;
using System.Reflection;
using System.Runtime.InteropServices;
using ILGPU;
using ILGPU.Runtime;

namespace Engine.Backends.Ilgpu;

/// <summary>
/// The ILGPU backend: one instance per accelerator (CUDA GPU, OpenCL device, or ILGPU's CPU accelerator).
/// Tensors stay resident in device buffers; kernels are compiled once per element type and cached; launches are
/// queued on the accelerator's default stream and the host waits only when it reads data back.
/// Kernels are split by op family across partial files, each kernel next to the entry point that launches it.
/// </summary>
public sealed partial class IlgpuBackend : IBackend
{
    readonly ConcurrentDictionary<MethodInfo, Delegate> _kernels = new();
    // Kernel launches and host transfers on one accelerator are serialised: ILGPU streams are not meant to be
    // driven from several threads at once, and tests or data loaders may call in parallel.
    readonly object _gate = new();

    // Error code written by indexing kernels that met an out-of-range index (0: none); checked at each read back.
    readonly MemoryBuffer1D<int, Stride1D.Dense> _errors;

    internal IlgpuBackend(Device device, Accelerator accelerator)
    {
        Device = device;
        Accelerator = accelerator;
        _errors = accelerator.Allocate1D<int>(1);
        _errors.View.MemSetToZero();
        Pool = new BufferPool(accelerator);
    }

    /// <summary>Recycled device buffers of this accelerator.</summary>
    internal BufferPool Pool { get; }

    /// <summary>
    /// Frees the device buffers cached for reuse (those of tensors already collected), e.g. before handing the GPU
    /// to another library. Live tensors are unaffected.
    /// </summary>
    public void EmptyCache()
    {
        lock (_gate) Pool.Trim();
    }

    public Device Device { get; }

    /// <summary>The ILGPU accelerator this backend launches on.</summary>
    public Accelerator Accelerator { get; }

    public Storage Allocate(DType dtype, long length, bool zeroed = true)
    {
        // ILGPU rejects empty buffers; an empty tensor gets one unused element.
        long n = Math.Max(length, 1);
        lock (_gate)
        {
            return dtype switch
            {
                DType.Float32 => Rented<float>(dtype, length, n, zeroed),
                DType.Float64 => Rented<double>(dtype, length, n, zeroed),
                DType.Int32 => Rented<int>(dtype, length, n, zeroed),
                DType.Int64 => Rented<long>(dtype, length, n, zeroed),
                DType.Bool => Rented<byte>(dtype, length, n, zeroed),
                _ => throw new ArgumentOutOfRangeException(nameof(dtype)),
            };
        }
    }

    IlgpuStorage Rented<T>(DType dtype, long length, long n, bool zeroed) where T : unmanaged
    {
        var buffer = Pool.Rent<T>(n);
        // Zeroing is queued like a kernel, so it also waits for earlier users of a recycled buffer.
        if (zeroed) buffer.View.SubView(0, n).MemSetToZero();
        return new IlgpuStorage(this, buffer, typeof(T), dtype, length);
    }

    public Storage FromHost<T>(ReadOnlySpan<T> data) where T : unmanaged
    {
        var dtype = DTypes.Of<T>();
        var storage = (IlgpuStorage)Allocate(dtype, data.Length, zeroed: false);
        if (data.Length == 0) return storage;
        lock (_gate)
        {
            if (dtype == DType.Bool) storage.View<byte>().SubView(0, data.Length).CopyFromCPU(MemoryMarshal.Cast<T, byte>(data));
            else storage.View<T>().SubView(0, data.Length).CopyFromCPU(data);
        }
        return storage;
    }

    public void ToHost<T>(StridedView source, Span<T> destination) where T : unmanaged
    {
        if (DTypes.Of<T>() != source.Storage.DType)
            throw new ArgumentException($"ToHost: tensor holds {source.Storage.DType.Name()}, requested {DTypes.Of<T>().Name()}");
        int n = (int)source.Numel;
        if (n == 0) return;
        var src = source.IsContiguous ? source : ContiguousCopy(source);
        lock (_gate)
        {
            // The only synchronisation point: everything queued before must finish before the host reads.
            Accelerator.Synchronize();
            ThrowDeviceErrors();
            if (source.Storage.DType == DType.Bool) Ilgpu(src).View<byte>().SubView(src.Offset, n).CopyToCPU(MemoryMarshal.Cast<T, byte>(destination[..n]));
            else Ilgpu(src).View<T>().SubView(src.Offset, n).CopyToCPU(destination[..n]);
        }
    }

    // Kernels cannot throw; an error they recorded surfaces here, once, at the first read back after it.
    void ThrowDeviceErrors()
    {
        var code = new int[1];
        _errors.View.CopyToCPU(code);
        if (code[0] == 0) return;
        _errors.View.MemSetToZero();
        throw new ArgumentOutOfRangeException("index", IndexErrorMessage(code[0]));
    }

    /// <summary>A contiguous copy of a view on this device, same dtype.</summary>
    internal StridedView ContiguousCopy(StridedView view)
    {
        var result = StridedView.Contiguous(Allocate(view.Storage.DType, view.Numel, zeroed: false), view.Shape);
        Copy(view, result);
        return result;
    }

    /// <summary>The ILGPU storage of a view, checking that it belongs to this backend.</summary>
    internal IlgpuStorage Ilgpu(StridedView view)
        => view.Storage is IlgpuStorage s && ReferenceEquals(s.Backend, this)
            ? s
            : throw new ArgumentException($"ILGPU backend on {Device} was handed storage of another device ({view.Storage.Backend.Device})");

    /// <summary>Typed device view of a view's storage (Bool as byte).</summary>
    internal ArrayView<T> Data<T>(StridedView view) where T : unmanaged => Ilgpu(view).View<T>();

    /// <summary>Typed device view starting at the view's offset, for kernels over contiguous operands.</summary>
    internal ArrayView<T> DataAt<T>(StridedView view) where T : unmanaged
    {
        var all = Ilgpu(view).View<T>();
        return all.SubView(view.Offset, all.Length - view.Offset);
    }

    static int Extent(long n) => n <= int.MaxValue
        ? (int)n
        : throw new NotSupportedException($"ILGPU backend: {n} threads exceed one launch's limit of {int.MaxValue}");

    /// <summary>Runs <paramref name="launch"/> under the accelerator lock (launches queue; they do not wait).</summary>
    void Launch(Action launch)
    {
        lock (_gate) launch();
    }

    // Kernel loading: each kernel method (per closed generic instantiation) is compiled once per accelerator.
    // One overload per parameter count, because ILGPU's loader is generic over each parameter type.
    Action<Index1D, A, B> Load<A, B>(Action<Index1D, A, B> k) where A : struct where B : struct
        => (Action<Index1D, A, B>)_kernels.GetOrAdd(k.Method, _ => Accelerator.LoadAutoGroupedStreamKernel(k));

    Action<Index1D, A, B, C> Load<A, B, C>(Action<Index1D, A, B, C> k) where A : struct where B : struct where C : struct
        => (Action<Index1D, A, B, C>)_kernels.GetOrAdd(k.Method, _ => Accelerator.LoadAutoGroupedStreamKernel(k));

    Action<Index1D, A, B, C, D> Load<A, B, C, D>(Action<Index1D, A, B, C, D> k)
        where A : struct where B : struct where C : struct where D : struct
        => (Action<Index1D, A, B, C, D>)_kernels.GetOrAdd(k.Method, _ => Accelerator.LoadAutoGroupedStreamKernel(k));

    Action<Index1D, A, B, C, D, E> Load<A, B, C, D, E>(Action<Index1D, A, B, C, D, E> k)
        where A : struct where B : struct where C : struct where D : struct where E : struct
        => (Action<Index1D, A, B, C, D, E>)_kernels.GetOrAdd(k.Method, _ => Accelerator.LoadAutoGroupedStreamKernel(k));

    Action<Index1D, A, B, C, D, E, F> Load<A, B, C, D, E, F>(Action<Index1D, A, B, C, D, E, F> k)
        where A : struct where B : struct where C : struct where D : struct where E : struct where F : struct
        => (Action<Index1D, A, B, C, D, E, F>)_kernels.GetOrAdd(k.Method, _ => Accelerator.LoadAutoGroupedStreamKernel(k));

    Action<Index1D, A, B, C, D, E, F, G> Load<A, B, C, D, E, F, G>(Action<Index1D, A, B, C, D, E, F, G> k)
        where A : struct where B : struct where C : struct where D : struct where E : struct where F : struct where G : struct
        => (Action<Index1D, A, B, C, D, E, F, G>)_kernels.GetOrAdd(k.Method, _ => Accelerator.LoadAutoGroupedStreamKernel(k));

    Action<Index1D, A, B, C, D, E, F, G, H> Load<A, B, C, D, E, F, G, H>(Action<Index1D, A, B, C, D, E, F, G, H> k)
        where A : struct where B : struct where C : struct where D : struct where E : struct where F : struct where G : struct where H : struct
        => (Action<Index1D, A, B, C, D, E, F, G, H>)_kernels.GetOrAdd(k.Method, _ => Accelerator.LoadAutoGroupedStreamKernel(k));

    Action<Index1D, A, B, C, D, E, F, G, H, I> Load<A, B, C, D, E, F, G, H, I>(Action<Index1D, A, B, C, D, E, F, G, H, I> k)
        where A : struct where B : struct where C : struct where D : struct where E : struct where F : struct where G : struct where H : struct where I : struct
        => (Action<Index1D, A, B, C, D, E, F, G, H, I>)_kernels.GetOrAdd(k.Method, _ => Accelerator.LoadAutoGroupedStreamKernel(k));

    Action<Index1D, A, B, C, D, E, F, G, H, I, J> Load<A, B, C, D, E, F, G, H, I, J>(Action<Index1D, A, B, C, D, E, F, G, H, I, J> k)
        where A : struct where B : struct where C : struct where D : struct where E : struct where F : struct where G : struct where H : struct where I : struct where J : struct
        => (Action<Index1D, A, B, C, D, E, F, G, H, I, J>)_kernels.GetOrAdd(k.Method, _ => Accelerator.LoadAutoGroupedStreamKernel(k));
}
