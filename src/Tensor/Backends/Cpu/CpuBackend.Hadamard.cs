using System.Numerics;

namespace Engine.Backends.Cpu;

// The fast Walsh–Hadamard transform in place: log2(L) stages of butterflies (a, b) -> (a + b, a - b) between entries
// h apart. Pair p of a stage is entry (p / h) 2h + p % h and its partner h later; a range of pairs is done as runs of
// consecutive pairs inside one block, with Vector<T> adds and subtracts when a run is at least one vector long. Many
// rows run in parallel one row per task; one long row (a Fastfood projection) splits each stage's pairs over threads.
public sealed partial class CpuBackend
{
    /// <inheritdoc/>
    public void Fwht(StridedView x)
    {
        switch (x.Storage.DType)
        {
            case DType.Float32: FwhtRows<float>(x); break;
            case DType.Float64: FwhtRows<double>(x); break;
            default: throw new NotSupportedException($"Fwht: needs a floating tensor, got {x.Storage.DType.Name()}");
        }
    }

    static void FwhtRows<T>(StridedView x) where T : unmanaged, INumber<T>
    {
        int length = x.Shape[^1];
        long rows = x.Numel / Math.Max(1, length);
        if (length < 2 || rows == 0) return;
        var data = Cpu(x).Array<T>();
        long offset = x.Offset;
        int stages = BitOperations.Log2((uint)length);
        if (rows > 1 || (long)length * stages < CpuThreading.ParallelThreshold)
        {
            CpuThreading.For(rows, rows * length * stages, (start, end) =>
            {
                for (long r = start; r < end; r++)
                {
                    var row = data.AsSpan(checked((int)(offset + r * length)), length);
                    for (int h = 1; h < length; h <<= 1) FwhtPairs(row, h, 0, length / 2);
                }
            });
            return;
        }
        for (int h = 1; h < length; h <<= 1)
        {
            int half = h;
            CpuThreading.For(length / 2, length, (start, end) => FwhtPairs(data.AsSpan(checked((int)offset), length), half, start, end));
        }
    }

    // Butterflies of pairs [start, end) of the stage with partners h apart.
    static void FwhtPairs<T>(Span<T> row, int h, long start, long end) where T : unmanaged, INumber<T>
    {
        for (long p = start; p < end;)
        {
            int k = (int)(p % h);
            int run = (int)Math.Min(h - k, end - p);
            int i = (int)(p / h * 2 * h + k);
            Butterfly(row.Slice(i, run), row.Slice(i + h, run));
            p += run;
        }
    }

    static void Butterfly<T>(Span<T> a, Span<T> b) where T : unmanaged, INumber<T>
    {
        int j = 0;
        if (Vector.IsHardwareAccelerated && a.Length >= Vector<T>.Count)
        {
            for (; j <= a.Length - Vector<T>.Count; j += Vector<T>.Count)
            {
                var va = new Vector<T>(a[j..]);
                var vb = new Vector<T>(b[j..]);
                (va + vb).CopyTo(a[j..]);
                (va - vb).CopyTo(b[j..]);
            }
        }
        for (; j < a.Length; j++) (a[j], b[j]) = (a[j] + b[j], a[j] - b[j]);
    }
}
