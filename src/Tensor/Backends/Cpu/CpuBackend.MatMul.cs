using System.Numerics;

namespace Engine.Backends.Cpu;

public sealed partial class CpuBackend
{
    public unsafe void MatMul(StridedView a, StridedView b, StridedView y)
    {
        int r = y.Rank;
        int m = y.Shape[r - 2], n = y.Shape[r - 1], k = a.Shape[r - 1];
        long batch = y.Numel / Math.Max(1L * m * n, 1);
        if (batch == 0 || m == 0 || n == 0) return;
        var batchShape = y.Shape[..(r - 2)];
        // One GEMM per batch entry; the batch offsets come from the (possibly broadcast) batch strides.
        var aOff = BatchOffsets(a, batchShape);
        var bOff = BatchOffsets(b, batchShape);
        long rsA = a.Strides[r - 2], csA = a.Strides[r - 1], rsB = b.Strides[r - 2], csB = b.Strides[r - 1];
        long yo = y.Offset;
        switch (y.Storage.DType)
        {
            case DType.Float32:
                fixed (float* pa = Cpu(a).Array<float>(), pb = Cpu(b).Array<float>(), py = Cpu(y).Array<float>())
                    for (long i = 0; i < batch; i++)
                        PackedGemm.Gemm(m, n, k, 1f, pa + aOff[i], rsA, csA, pb + bOff[i], rsB, csB, 0f, py + yo + i * m * n, n, CpuThreading.MaxThreads);
                break;
            case DType.Float64:
                fixed (double* pa = Cpu(a).Array<double>(), pb = Cpu(b).Array<double>(), py = Cpu(y).Array<double>())
                    for (long i = 0; i < batch; i++)
                        PackedGemm.Gemm(m, n, k, 1d, pa + aOff[i], rsA, csA, pb + bOff[i], rsB, csB, 0d, py + yo + i * m * n, n, CpuThreading.MaxThreads);
                break;
            case DType.Int32: IntegerMatMul<int>(a, b, y, aOff, bOff, m, n, k); break;
            case DType.Int64: IntegerMatMul<long>(a, b, y, aOff, bOff, m, n, k); break;
            default: throw new NotSupportedException($"MatMul: not defined for {y.Storage.DType.Name()} tensors");
        }
    }

    static long[] BatchOffsets(StridedView v, int[] batchShape)
    {
        long count = Shapes.Numel(batchShape);
        var offsets = new long[count];
        for (long i = 0; i < count; i++)
        {
            long rem = i, off = v.Offset;
            for (int d = batchShape.Length - 1; d >= 0; d--)
            {
                off += rem % batchShape[d] * v.Strides[d];
                rem /= batchShape[d];
            }
            offsets[i] = off;
        }
        return offsets;
    }

    // Integer products are rare (index arithmetic); a plain triple loop is enough.
    static void IntegerMatMul<T>(StridedView a, StridedView b, StridedView y, long[] aOff, long[] bOff, int m, int n, int k) where T : unmanaged, INumber<T>
    {
        int r = y.Rank;
        var A = Cpu(a).Array<T>();
        var B = Cpu(b).Array<T>();
        var Y = Cpu(y).Array<T>();
        long rsA = a.Strides[r - 2], csA = a.Strides[r - 1], rsB = b.Strides[r - 2], csB = b.Strides[r - 1];
        for (int bi = 0; bi < aOff.Length; bi++)
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++)
                {
                    T acc = T.Zero;
                    for (int p = 0; p < k; p++) acc += A[aOff[bi] + i * rsA + p * csA] * B[bOff[bi] + p * rsB + j * csB];
                    Y[y.Offset + ((long)bi * m + i) * n + j] = acc;
                }
    }
}
