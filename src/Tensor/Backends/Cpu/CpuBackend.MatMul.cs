using System.Numerics;

namespace Engine.Backends.Cpu;

public sealed partial class CpuBackend
{
    public void MatMul(StridedView a, StridedView b, StridedView y, bool accumulate = false) => MatMul(a, b, y, accumulate, GemmEpilogue.None);

    /// <summary>
    /// y = rowBias + a b with <paramref name="activation"/> applied, for matrices: the bias ([n], contiguous Float32)
    /// is added to each tile of the product as it finishes, so y is written once (no copy of the bias into y first).
    /// </summary>
    internal unsafe void MatMulRowBias(StridedView a, StridedView b, StridedView rowBias, StridedView y, GemmActivation activation)
    {
        if (rowBias.Rank != 1 || rowBias.Shape[0] != y.Shape[^1] || rowBias.Strides[0] != 1 || rowBias.Storage.DType != DType.Float32)
            throw new ArgumentException($"MatMulRowBias: the bias must be a contiguous Float32 vector of {y.Shape[^1]}, got {Shapes.Format(rowBias.Shape)}");
        fixed (float* bias = Cpu(rowBias).Array<float>())
            MatMul(a, b, y, accumulate: false, new GemmEpilogue(activation, bias + rowBias.Offset));
    }

    /// <summary><see cref="MatMul(StridedView, StridedView, StridedView, bool)"/> with an epilogue applied to each finished tile (Float32).</summary>
    internal unsafe void MatMul(StridedView a, StridedView b, StridedView y, bool accumulate, GemmEpilogue epilogue)
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
        // Many small products (attention heads) run one per thread; a few large ones use the GEMM's own threads.
        // Either way each output element is computed by one thread in a fixed order, so results never depend on it.
        long flops = (long)m * n * k;
        bool acrossBatch = batch >= CpuThreading.MaxThreads && batch > 1 && flops < (1L << 22);
        int gemmThreads = acrossBatch ? 1 : CpuThreading.MaxThreads;
        switch (y.Storage.DType)
        {
            case DType.Float32:
            {
                var (A, B, Y) = (Cpu(a).Array<float>(), Cpu(b).Array<float>(), Cpu(y).Array<float>());
                CpuThreading.For(batch, acrossBatch ? batch * flops : 0, (s0, e0) =>
                {
                    fixed (float* pa = A, pb = B, py = Y)
                        for (long i = s0; i < e0; i++)
                            PackedGemm.Gemm(PackedGemm.BestPath, true, m, n, k, 1f, pa + aOff[i], rsA, csA, pb + bOff[i], rsB, csB, accumulate ? 1f : 0f, py + yo + i * m * n, n, gemmThreads, epilogue);
                });
                break;
            }
            case DType.Float64 when epilogue.IsNone:
            {
                var (A, B, Y) = (Cpu(a).Array<double>(), Cpu(b).Array<double>(), Cpu(y).Array<double>());
                CpuThreading.For(batch, acrossBatch ? batch * flops : 0, (s0, e0) =>
                {
                    fixed (double* pa = A, pb = B, py = Y)
                        for (long i = s0; i < e0; i++)
                            PackedGemm.Gemm(m, n, k, 1d, pa + aOff[i], rsA, csA, pb + bOff[i], rsB, csB, accumulate ? 1d : 0d, py + yo + i * m * n, n, gemmThreads);
                });
                break;
            }
            case DType.Int32: IntegerMatMul<int>(a, b, y, aOff, bOff, m, n, k, accumulate); break;
            case DType.Int64: IntegerMatMul<long>(a, b, y, aOff, bOff, m, n, k, accumulate); break;
            default: throw new NotSupportedException($"MatMul: not defined for {y.Storage.DType.Name()} tensors{(epilogue.IsNone ? "" : $" with the {epilogue} epilogue")}");
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
    static void IntegerMatMul<T>(StridedView a, StridedView b, StridedView y, long[] aOff, long[] bOff, int m, int n, int k, bool accumulate) where T : unmanaged, INumber<T>
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
                    long at = y.Offset + ((long)bi * m + i) * n + j;
                    T acc = accumulate ? Y[at] : T.Zero;
                    for (int p = 0; p < k; p++) acc += A[aOff[bi] + i * rsA + p * csA] * B[bOff[bi] + p * rsB + j * csB];
                    Y[at] = acc;
                }
    }
}
