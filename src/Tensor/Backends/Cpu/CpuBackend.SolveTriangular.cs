using System.Numerics;
using System.Runtime.CompilerServices;

namespace Engine.Backends.Cpu;

// Batched triangular solves by substitution, matrices in parallel. Each row of X is built in SIMD registers,
// a vector of right-hand-side columns at a time: x_i = (b_i - sum_{j<i} a_ij x_j) / a_ii for lower A.
public sealed partial class CpuBackend
{
    /// <inheritdoc/>
    public void SolveTriangular(StridedView a, StridedView b, StridedView x, bool upper, bool unitriangular)
    {
        switch (x.Storage.DType)
        {
            case DType.Float32: SolveTriangularBatch<float>(a, b, x, upper, unitriangular); break;
            case DType.Float64: SolveTriangularBatch<double>(a, b, x, upper, unitriangular); break;
            default: throw new NotSupportedException($"SolveTriangular: needs a floating tensor, got {x.Storage.DType.Name()}");
        }
    }

    static void SolveTriangularBatch<T>(StridedView a, StridedView b, StridedView x, bool upper, bool unitriangular)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int n = x.Shape[^2], m = x.Shape[^1];
        var batch = x.Shape[..^2];
        long count = Shapes.Numel(batch);
        var (aOff, bOff) = (BatchOffsets(a, batch), BatchOffsets(b, batch));
        var (A, B, X) = (Cpu(a).Array<T>(), Cpu(b).Array<T>(), Cpu(x).Array<T>());
        long ar = a.Strides[^2], ac = a.Strides[^1], br = b.Strides[^2], bc = b.Strides[^1];
        CpuThreading.For(count, count * (long)n * n * m, (start, end) =>
        {
            for (long p = start; p < end; p++)
            {
                long xo = x.Offset + p * n * m;
                for (int step = 0; step < n; step++)
                {
                    // Rows are solved in the order their dependencies allow: top down for lower A, bottom up for upper.
                    int i = upper ? n - 1 - step : step;
                    int from = upper ? i + 1 : 0, to = upper ? n : i;
                    long aRow = aOff[p] + i * ar;
                    T diagonal = unitriangular ? T.One : A[aRow + i * ac];
                    int col = 0;
                    if (Vector.IsHardwareAccelerated)
                    {
                        ref T xBase = ref X[xo];
                        for (; col <= m - Vector<T>.Count; col += Vector<T>.Count)
                        {
                            ref T xCol = ref Unsafe.Add(ref xBase, col);
                            // Four partial sums: one chain of dependent subtractions would wait on each one's latency.
                            Vector<T> acc0 = LoadColumns(B, bOff[p] + i * br + col * bc, bc), acc1 = default, acc2 = default, acc3 = default;
                            int j = from;
                            for (; j <= to - 4; j += 4)
                            {
                                acc0 -= new Vector<T>(A[aRow + j * ac]) * RowAt(ref xCol, j * m);
                                acc1 -= new Vector<T>(A[aRow + (j + 1) * ac]) * RowAt(ref xCol, (j + 1) * m);
                                acc2 -= new Vector<T>(A[aRow + (j + 2) * ac]) * RowAt(ref xCol, (j + 2) * m);
                                acc3 -= new Vector<T>(A[aRow + (j + 3) * ac]) * RowAt(ref xCol, (j + 3) * m);
                            }
                            for (; j < to; j++) acc0 -= new Vector<T>(A[aRow + j * ac]) * RowAt(ref xCol, j * m);
                            var acc = (acc0 + acc1) + (acc2 + acc3);
                            if (!unitriangular) acc /= new Vector<T>(diagonal);
                            Unsafe.WriteUnaligned(ref Unsafe.As<T, byte>(ref Unsafe.Add(ref xCol, i * m)), acc);
                        }
                    }
                    for (; col < m; col++)
                    {
                        T sum = B[bOff[p] + i * br + col * bc];
                        for (int j = from; j < to; j++) sum -= A[aRow + j * ac] * X[xo + (long)j * m + col];
                        X[xo + (long)i * m + col] = unitriangular ? sum : sum / diagonal;
                    }
                }
            }
        });
    }

    static Vector<T> RowAt<T>(ref T start, int offset) where T : unmanaged
        => Unsafe.ReadUnaligned<Vector<T>>(ref Unsafe.As<T, byte>(ref Unsafe.Add(ref start, offset)));

    // Vector<T>.Count consecutive columns of a row of B, which may be strided.
    static Vector<T> LoadColumns<T>(T[] source, long offset, long stride) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (stride == 1) return new Vector<T>(source.AsSpan((int)offset));
        Span<T> values = stackalloc T[Vector<T>.Count];
        for (int i = 0; i < values.Length; i++) values[i] = source[offset + i * stride];
        return new Vector<T>(values);
    }
}
