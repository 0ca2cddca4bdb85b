using ILGPU;
using ILGPU.Runtime;

namespace Engine.Backends.Ilgpu;

/// <summary>Sizes and element strides of one batched product y[M, N] = a[M, K] b[K, N].</summary>
public struct MatMulDims
{
    /// <summary>Rows of y, columns of y, and the shared dimension.</summary>
    public long M, N, K;
    /// <summary>Element strides between rows and between columns of a, b and y.</summary>
    public long ARow, ACol, BRow, BCol, YRow, YCol;
    /// <summary>1 to add the product to y's contents, 0 to overwrite them.</summary>
    public int Accumulate;
}

public sealed partial class IlgpuBackend
{
    public void MatMul(StridedView a, StridedView b, StridedView y, bool accumulate = false)
    {
        int r = y.Rank;
        int m = y.Shape[r - 2], n = y.Shape[r - 1], k = a.Shape[r - 1];
        if (y.Numel == 0) return;
        var dtype = y.Storage.DType;
        if (dtype == DType.Bool) throw new NotSupportedException($"MatMul: not defined for {dtype.Name()} tensors");
        // The batch dimensions (broadcast ones have stride 0) are packed like an elementwise op's shape.
        var batchShape = y.Shape[..(r - 2)];
        var (bn, views) = StridedLayout.Pack(batchShape, (a.Strides[..(r - 2)], a.Offset), (b.Strides[..(r - 2)], b.Offset), (y.Strides[..(r - 2)], y.Offset));
        var dims = new MatMulDims
        {
            M = m, N = n, K = k,
            ARow = a.Strides[r - 2], ACol = a.Strides[r - 1],
            BRow = b.Strides[r - 2], BCol = b.Strides[r - 1],
            YRow = y.Strides[r - 2], YCol = y.Strides[r - 1],
            Accumulate = accumulate ? 1 : 0,
        };
        long batch = y.Numel / ((long)m * n);
        if (dtype == DType.Float32 && TileThreads > 0 && batch <= 65535 && k > 0)
        {
            TiledMatMul(a, b, y, bn, views, dims, batch);
            return;
        }
        switch (dtype)
        {
            case DType.Float32: MatMulTyped<float, F32>(a, b, y, bn, views, dims); break;
            case DType.Float64: MatMulTyped<double, F64>(a, b, y, bn, views, dims); break;
            case DType.Int32: MatMulTyped<int, I32>(a, b, y, bn, views, dims); break;
            case DType.Int64: MatMulTyped<long, I64>(a, b, y, bn, views, dims); break;
        }
    }

    void MatMulTyped<T, TE>(StridedView a, StridedView b, StridedView y, Dims8 batch, View8[] views, MatMulDims dims)
        where T : unmanaged where TE : struct, IElement<T> => Launch(() =>
    {
        Action<Index1D, Dims8, ArrayView<T>, View8, ArrayView<T>, View8, ArrayView<T>, View8, MatMulDims> k = MatMulKernel<T, TE>;
        Load(k)(Extent(y.Numel), batch, Data<T>(a), views[0], Data<T>(b), views[1], Data<T>(y), views[2], dims);
    });

    // Tiled GEMM geometry: a group of T x T threads computes a (4T) x (4T) block of y, each thread a 4 x 4 register
    // tile (rows ty + i T, columns tx + j T), walking K in slices of GemmSliceK staged in shared memory.
    const int GemmSliceK = 16;

    /// <summary>Threads per side of a GEMM group: 16 on GPUs, fewer on accelerators with small groups (ILGPU's CPU accelerator).</summary>
    int TileThreads => Accelerator.MaxNumThreadsPerGroup >= 256 ? 16 : Accelerator.MaxNumThreadsPerGroup >= 64 ? 8 : Accelerator.MaxNumThreadsPerGroup >= 16 ? 4 : 0;

    void TiledMatMul(StridedView a, StridedView b, StridedView y, Dims8 batchShape, View8[] views, MatMulDims dims, long batch) => Launch(() =>
    {
        int t = TileThreads, block = 4 * t;
        var kernel = (Action<KernelConfig, ArrayView<float>, View8, ArrayView<float>, View8, ArrayView<float>, View8, Dims8, MatMulDims>)_kernels.GetOrAdd(
            ((Action<ArrayView<float>, View8, ArrayView<float>, View8, ArrayView<float>, View8, Dims8, MatMulDims>)TiledMatMulKernel).Method,
            _ => Accelerator.LoadStreamKernel<ArrayView<float>, View8, ArrayView<float>, View8, ArrayView<float>, View8, Dims8, MatMulDims>(TiledMatMulKernel));
        var config = new KernelConfig(
            new Index3D((int)((dims.N + block - 1) / block), (int)((dims.M + block - 1) / block), (int)batch),
            new Index3D(t, t, 1),
            SharedMemoryConfig.RequestDynamic<float>(2 * GemmSliceK * block));
        kernel(config, Data<float>(a), views[0], Data<float>(b), views[1], Data<float>(y), views[2], batchShape, dims);
    });

    // Float32 GEMM with shared-memory tiles and 4 x 4 register blocking; float accumulators in k order, so results
    // are deterministic and within float rounding of the CPU's. Out-of-range rows/columns load zeros and store nothing.
    static void TiledMatMulKernel(ArrayView<float> a, View8 av, ArrayView<float> b, View8 bv, ArrayView<float> y, View8 yv, Dims8 batch, MatMulDims d)
    {
        var tile = SharedMemory.GetDynamic<float>(); // [GemmSliceK, block] of A (transposed), then [GemmSliceK, block] of B
        int t = Group.DimX, tx = Group.IdxX, ty = Group.IdxY;
        int tid = ty * t + tx, threads = t * t, block = 4 * t, bOffset = GemmSliceK * block;
        long m0 = (long)Grid.IdxY * block, n0 = (long)Grid.IdxX * block, z = Grid.IdxZ;
        long ab = av.At(z, batch), bb = bv.At(z, batch), yb = yv.At(z, batch);
        float c00 = 0, c01 = 0, c02 = 0, c03 = 0, c10 = 0, c11 = 0, c12 = 0, c13 = 0;
        float c20 = 0, c21 = 0, c22 = 0, c23 = 0, c30 = 0, c31 = 0, c32 = 0, c33 = 0;
        for (long k0 = 0; k0 < d.K; k0 += GemmSliceK)
        {
            // Consecutive threads read consecutive k of A and consecutive n of B: coalesced for row-major operands.
            for (int idx = tid; idx < GemmSliceK * block; idx += threads)
            {
                int mm = idx / GemmSliceK, ka = idx % GemmSliceK;
                long row = m0 + mm, ca = k0 + ka;
                tile[ka * block + mm] = row < d.M && ca < d.K ? a[ab + row * d.ARow + ca * d.ACol] : 0f;
                int kb = idx / block, nn = idx % block;
                long rb = k0 + kb, col = n0 + nn;
                tile[bOffset + kb * block + nn] = rb < d.K && col < d.N ? b[bb + rb * d.BRow + col * d.BCol] : 0f;
            }
            Group.Barrier();
            for (int kk = 0; kk < GemmSliceK; kk++)
            {
                int ao = kk * block + ty, bo = bOffset + kk * block + tx;
                float a0 = tile[ao], a1 = tile[ao + t], a2 = tile[ao + 2 * t], a3 = tile[ao + 3 * t];
                float b0 = tile[bo], b1 = tile[bo + t], b2 = tile[bo + 2 * t], b3 = tile[bo + 3 * t];
                c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3;
                c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3;
                c20 += a2 * b0; c21 += a2 * b1; c22 += a2 * b2; c23 += a2 * b3;
                c30 += a3 * b0; c31 += a3 * b1; c32 += a3 * b2; c33 += a3 * b3;
            }
            Group.Barrier();
        }
        long r0 = m0 + ty, q0 = n0 + tx;
        StoreRow(y, yb, d, r0, q0, t, c00, c01, c02, c03);
        StoreRow(y, yb, d, r0 + t, q0, t, c10, c11, c12, c13);
        StoreRow(y, yb, d, r0 + 2 * t, q0, t, c20, c21, c22, c23);
        StoreRow(y, yb, d, r0 + 3 * t, q0, t, c30, c31, c32, c33);
    }

    static void StoreRow(ArrayView<float> y, long yb, MatMulDims d, long row, long col, int t, float v0, float v1, float v2, float v3)
    {
        if (row >= d.M) return;
        long o = yb + row * d.YRow;
        if (col < d.N) Store(y, o + col * d.YCol, v0, d.Accumulate);
        if (col + t < d.N) Store(y, o + (col + t) * d.YCol, v1, d.Accumulate);
        if (col + 2 * t < d.N) Store(y, o + (col + 2 * t) * d.YCol, v2, d.Accumulate);
        if (col + 3 * t < d.N) Store(y, o + (col + 3 * t) * d.YCol, v3, d.Accumulate);
    }

    static void Store(ArrayView<float> y, long at, float v, int accumulate) => y[at] = accumulate != 0 ? y[at] + v : v;

    // One thread per output element, the dot product accumulated in double (long for integers) in k order:
    // correct for any strides and broadcast batches. A tiled shared-memory GEMM is the planned fast path.
    static void MatMulKernel<T, TE>(Index1D i, Dims8 batch, ArrayView<T> a, View8 av, ArrayView<T> b, View8 bv, ArrayView<T> y, View8 yv, MatMulDims d)
        where T : unmanaged where TE : struct, IElement<T>
    {
        TE e = default;
        long mn = d.M * d.N;
        long bi = i / mn, row = i / d.N % d.M, col = i % d.N;
        long ao = av.At(bi, batch) + row * d.ARow, bo = bv.At(bi, batch) + col * d.BCol;
        long at = yv.At(bi, batch) + row * d.YRow + col * d.YCol;
        T r;
        if (e.IsInteger)
        {
            long acc = d.Accumulate != 0 ? e.ToLong(y[at]) : 0;
            for (long k = 0; k < d.K; k++) acc += e.ToLong(a[ao + k * d.ACol]) * e.ToLong(b[bo + k * d.BRow]);
            r = e.FromLong(acc);
        }
        else
        {
            double acc = d.Accumulate != 0 ? e.ToDouble(y[at]) : 0;
            for (long k = 0; k < d.K; k++) acc += e.ToDouble(a[ao + k * d.ACol]) * e.ToDouble(b[bo + k * d.BRow]);
            r = e.FromDouble(acc);
        }
        y[at] = r;
    }
}
