using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;

namespace Engine.Backends.Cpu;

/// <summary>
/// The managed CPU backend: TensorPrimitives for vectorised spans, own strided loops around them,
/// <see cref="PackedGemm"/> for matrix products. Kernels are split by op family across partial files.
/// </summary>
public sealed partial class CpuBackend : IBackend
{
    /// <summary>The one CPU backend.</summary>
    public static CpuBackend Instance { get; } = new();

    CpuBackend() { }

    public Device Device => Device.Cpu;

    public Storage Allocate(DType dtype, long length, bool zeroed = true) => CpuStorage.Allocate(dtype, length, zeroed);

    public Storage FromHost<T>(ReadOnlySpan<T> data) where T : unmanaged
    {
        var storage = CpuStorage.Allocate(DTypes.Of<T>(), data.Length, zeroed: false);
        data.CopyTo(storage.Array<T>());
        return storage;
    }

    public void ToHost<T>(StridedView source, Span<T> destination) where T : unmanaged
    {
        if (DTypes.Of<T>() != source.Storage.DType)
            throw new ArgumentException($"ToHost: tensor holds {source.Storage.DType.Name()}, requested {DTypes.Of<T>().Name()}");
        if (source.Numel == 0) return; // an empty view's offset may lie past the end of its storage
        var src = Cpu(source).Array<T>();
        if (source.IsContiguous)
        {
            src.AsSpan((int)source.Offset, (int)source.Numel).CopyTo(destination);
            return;
        }
        var tmp = GC.AllocateUninitializedArray<T>((int)source.Numel);
        CopySameType<T>(source, StridedView.Contiguous(new CpuStorage(tmp, source.Storage.DType), source.Shape));
        tmp.AsSpan().CopyTo(destination);
    }

    public void Fill(StridedView destination, double value)
    {
        switch (destination.Storage.DType)
        {
            case DType.Float32: FillTyped(destination, (float)value); break;
            case DType.Float64: FillTyped(destination, value); break;
            case DType.Int32: FillTyped(destination, checked((int)value)); break;
            case DType.Int64: FillTyped(destination, checked((long)value)); break;
            case DType.Bool: FillTyped<byte>(destination, value != 0 ? (byte)1 : (byte)0); break;
        }
    }

    static void FillTyped<T>(StridedView destination, T value) where T : unmanaged
        => new StridedLoop(destination.Shape, destination).Run(new FillRow<T>(Cpu(destination).Array<T>(), value));

    readonly struct FillRow<T>(T[] y, T value) : IRowKernel where T : unmanaged
    {
        public void Row(ReadOnlySpan<long> o, int n, ReadOnlySpan<long> s)
        {
            if (s[0] == 1) { y.AsSpan((int)o[0], n).Fill(value); return; }
            for (int i = 0; i < n; i++) y[o[0] + i * s[0]] = value;
        }
    }

    public void Copy(StridedView source, StridedView destination)
    {
        if (source.Numel == 0) return; // nothing to copy; an empty view's offset may lie past the end of its storage
        var from = source.Storage.DType;
        var to = destination.Storage.DType;
        if (from == to)
        {
            DispatchAll(from, new CopyAction(source, destination));
            return;
        }
        // Conversion: gather the source contiguously, convert span to span, scatter into the destination.
        var src = source.IsContiguous ? source : Contiguous(source);
        var converted = destination.IsContiguous ? destination : StridedView.Contiguous(CpuStorage.Allocate(to, source.Numel, false), source.Shape);
        Convert(src, converted);
        if (!ReferenceEquals(converted.Storage, destination.Storage)) DispatchAll(to, new CopyAction(converted, destination));
    }

    readonly struct CopyAction(StridedView source, StridedView destination) : IAnyAction
    {
        public void Invoke<T>() where T : unmanaged => CopySameType<T>(source, destination);
    }

    static void CopySameType<T>(StridedView source, StridedView destination) where T : unmanaged
    {
        var src = Cpu(source).Array<T>();
        var dst = Cpu(destination).Array<T>();
        if (source.IsContiguous && destination.IsContiguous)
        {
            src.AsSpan((int)source.Offset, (int)source.Numel).CopyTo(dst.AsSpan((int)destination.Offset));
            return;
        }
        new StridedLoop(destination.Shape, source, destination).Run(new CopyRow<T>(src, dst));
    }

    readonly struct CopyRow<T>(T[] x, T[] y) : IRowKernel where T : unmanaged
    {
        public void Row(ReadOnlySpan<long> o, int n, ReadOnlySpan<long> s)
        {
            long sx = s[0], sy = s[1], ox = o[0], oy = o[1];
            if (sx == 1 && sy == 1) { x.AsSpan((int)ox, n).CopyTo(y.AsSpan((int)oy, n)); return; }
            if (sx == 0 && sy == 1) { y.AsSpan((int)oy, n).Fill(x[ox]); return; }
            for (int i = 0; i < n; i++) y[oy + i * sy] = x[ox + i * sx];
        }
    }

    /// <summary>A contiguous copy of a view, in the same dtype.</summary>
    internal static StridedView Contiguous(StridedView view)
    {
        var storage = CpuStorage.Allocate(view.Storage.DType, view.Numel, zeroed: false);
        var result = StridedView.Contiguous(storage, view.Shape);
        DispatchAll(view.Storage.DType, new CopyAction(view, result));
        return result;
    }

    // Both views contiguous and of equal length; truncates toward zero into integers as PyTorch does.
    static void Convert(StridedView source, StridedView destination)
    {
        int n = (int)source.Numel, si = (int)source.Offset, di = (int)destination.Offset;
        var s = Cpu(source);
        var d = Cpu(destination);
        switch (source.Storage.DType)
        {
            case DType.Float32: ConvertFrom<float>(s.Array<float>().AsSpan(si, n), d, di); break;
            case DType.Float64: ConvertFrom<double>(s.Array<double>().AsSpan(si, n), d, di); break;
            case DType.Int32: ConvertFrom<int>(s.Array<int>().AsSpan(si, n), d, di); break;
            case DType.Int64: ConvertFrom<long>(s.Array<long>().AsSpan(si, n), d, di); break;
            case DType.Bool: ConvertFrom<byte>(s.Array<byte>().AsSpan(si, n), d, di); break;
        }
    }

    static void ConvertFrom<TFrom>(ReadOnlySpan<TFrom> x, CpuStorage d, int di) where TFrom : unmanaged, INumber<TFrom>
    {
        int n = x.Length;
        switch (d.DType)
        {
            case DType.Float32: TensorPrimitives.ConvertTruncating(x, d.Array<float>().AsSpan(di, n)); break;
            case DType.Float64: TensorPrimitives.ConvertTruncating(x, d.Array<double>().AsSpan(di, n)); break;
            case DType.Int32: ConvertSaturating(x, d.Array<int>().AsSpan(di, n)); break;
            case DType.Int64: ConvertSaturating(x, d.Array<long>().AsSpan(di, n)); break;
            case DType.Bool:
                var y = d.Array<byte>().AsSpan(di, n);
                for (int i = 0; i < n; i++) y[i] = x[i] != TFrom.Zero ? (byte)1 : (byte)0;
                break;
        }
    }

    static void ConvertSaturating<TFrom, TTo>(ReadOnlySpan<TFrom> x, Span<TTo> y)
        where TFrom : unmanaged, INumber<TFrom> where TTo : unmanaged, INumber<TTo>
    {
        for (int i = 0; i < x.Length; i++) y[i] = TTo.CreateSaturating(x[i]);
    }

    internal static CpuStorage Cpu(StridedView view) => view.Storage as CpuStorage
        ?? throw new ArgumentException($"CPU backend was handed storage of another device ({view.Storage.Backend.Device})");

    /// <summary>A generic action over the element type, so one switch on dtype serves many kernels.</summary>
    internal interface IAnyAction { void Invoke<T>() where T : unmanaged; }

    /// <summary>Calls action.Invoke&lt;T&gt; for the element type of dtype; Bool runs as byte.</summary>
    internal static void DispatchAll<TAction>(DType dtype, TAction action) where TAction : struct, IAnyAction
    {
        switch (dtype)
        {
            case DType.Float32: action.Invoke<float>(); break;
            case DType.Float64: action.Invoke<double>(); break;
            case DType.Int32: action.Invoke<int>(); break;
            case DType.Int64: action.Invoke<long>(); break;
            case DType.Bool: action.Invoke<byte>(); break;
        }
    }
}
