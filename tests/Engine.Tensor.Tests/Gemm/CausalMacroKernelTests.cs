using Engine.Backends.Cpu;
using Xunit;

namespace Engine.Tests.Gemm;

/// <summary>
/// The causal packing and macro-kernel against a naive product: with the masked parts of its inputs zero (as
/// attention's P and dS are), skipping tiles and depth steps (and not packing the skipped steps) changes no entry
/// that a causal product needs, on every kernel this machine has,
/// at sizes with edge tiles, diagonals before, inside and after the block, and with beta 0 and 1.
/// </summary>
public unsafe class CausalMacroKernelTests
{
    public static TheoryData<string> Kernels()
    {
        var data = new TheoryData<string> { "Vector128" };
        if (Avx2MicroKernel<float>.IsSupported) data.Add("Avx2");
        if (Avx512MicroKernel<float>.IsSupported) data.Add("Avx512");
        return data;
    }

    // rows of the query block, keys, head size, diagonal (the block's first query position)
    static readonly (int Rows, int Keys, int D, int Diagonal)[] Shapes =
        [(30, 45, 7, 15), (1, 1, 1, 0), (29, 29, 33, 0), (64, 100, 32, 36), (17, 40, 16, -5), (20, 20, 8, 1000)];

    [Theory]
    [MemberData(nameof(Kernels))]
    public void SkippedTilesAndDepthSteps_ChangeNoVisibleEntry(string kernel)
    {
        var rng = new Random(7);
        foreach (var (rows, keys, d, diagonal) in Shapes)
            foreach (float beta in new[] { 0f, 1f })
            foreach (bool multiply in new[] { false, true })
            {
                string how = multiply ? "Multiply" : "PackA + Run";
                bool Seen(int r, int key) => key <= diagonal + r;
                float[] Random(int n) => Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
                var q = Random(rows * d);
                var kv = Random(keys * d);
                var p = Random(rows * keys);
                for (int r = 0; r < rows; r++)
                    for (int j = 0; j < keys; j++)
                        if (!Seen(r, j)) p[r * keys + j] = 0; // attention's weights and dS past the diagonal

                // RowsByKeys: S [rows, keys] = Q K^T; only seen entries are compared (the rest is left as it was).
                var s = Random(rows * keys);
                var sBefore = (float[])s.Clone();
                Run(kernel, multiply, CausalProduct.RowsByKeys, diagonal, rows, keys, d, q, d, 1, kv, 1, d, beta, s, keys);
                for (int r = 0; r < rows; r++)
                    for (int j = 0; j < keys; j++)
                    {
                        double expected = beta * sBefore[r * keys + j];
                        for (int x = 0; x < d; x++) expected += (double)q[r * d + x] * kv[j * d + x];
                        if (Seen(r, j)) Close(expected, s[r * keys + j], $"{kernel} {how} S {rows}x{keys}x{d} diag {diagonal} beta {beta} ({r},{j})");
                    }

                // KeysAsDepth: dQ [rows, d] = P K, every entry.
                var dq = Random(rows * d);
                var dqBefore = (float[])dq.Clone();
                Run(kernel, multiply, CausalProduct.KeysAsDepth, diagonal, rows, d, keys, p, keys, 1, kv, d, 1, beta, dq, d);
                for (int r = 0; r < rows; r++)
                    for (int x = 0; x < d; x++)
                    {
                        double expected = beta * dqBefore[r * d + x];
                        for (int j = 0; j < keys; j++) expected += (double)p[r * keys + j] * kv[j * d + x];
                        Close(expected, dq[r * d + x], $"{kernel} {how} dQ {rows}x{keys}x{d} diag {diagonal} beta {beta} ({r},{x})");
                    }

                // RowsAsDepth: dK [keys, d] = P^T Q, every entry; P^T read through P's strides and as its own row-major copy.
                var pT = new float[keys * rows];
                for (int r = 0; r < rows; r++)
                    for (int j = 0; j < keys; j++)
                        pT[j * rows + r] = p[r * keys + j];
                foreach (bool copy in new[] { false, true })
                {
                    var dk = Random(keys * d);
                    var dkBefore = (float[])dk.Clone();
                    if (copy) Run(kernel, multiply, CausalProduct.RowsAsDepth, diagonal, keys, d, rows, pT, rows, 1, q, d, 1, beta, dk, d);
                    else Run(kernel, multiply, CausalProduct.RowsAsDepth, diagonal, keys, d, rows, p, 1, keys, q, d, 1, beta, dk, d);
                    for (int j = 0; j < keys; j++)
                        for (int x = 0; x < d; x++)
                        {
                            double expected = beta * dkBefore[j * d + x];
                            for (int r = 0; r < rows; r++) expected += (double)p[r * keys + j] * q[r * d + x];
                            Close(expected, dk[j * d + x], $"{kernel} {how} dK {rows}x{keys}x{d} diag {diagonal} beta {beta} copy {copy} ({j},{x})");
                        }
                }
            }
    }

    static void Close(double expected, float got, string what) =>
        Assert.True(Math.Abs(got - expected) <= 1e-5 * (1 + Math.Abs(expected)), $"{what}: {got}, expected {expected}");

    static void Run(string kernel, bool multiply, CausalProduct product, int diagonal, int m, int n, int depth,
        float[] a, long rsA, long csA, float[] b, long rsB, long csB, float beta, float[] c, long ldc)
    {
        switch (kernel)
        {
            case "Avx512": Run<Avx512MicroKernel<float>>(multiply, product, diagonal, m, n, depth, a, rsA, csA, b, rsB, csB, beta, c, ldc); break;
            case "Avx2": Run<Avx2MicroKernel<float>>(multiply, product, diagonal, m, n, depth, a, rsA, csA, b, rsB, csB, beta, c, ldc); break;
            default: Run<Vector128MicroKernel<float>>(multiply, product, diagonal, m, n, depth, a, rsA, csA, b, rsB, csB, beta, c, ldc); break;
        }
    }

    // Multiply reads a row-major A in place where the kernel can; PackA + Run always packs, into a NaN-filled buffer.
    static void Run<TKernel>(bool multiply, CausalProduct product, int diagonal, int m, int n, int depth,
        float[] a, long rsA, long csA, float[] b, long rsB, long csB, float beta, float[] c, long ldc)
        where TKernel : struct, IGemmMicroKernel<float>
    {
        int mr = TKernel.MR, nr = TKernel.NR;
        // NaN where the packing writes nothing: a depth step the kernel reads without packing it shows up as NaN.
        var packedA = Enumerable.Repeat(float.NaN, (m + mr - 1) / mr * mr * depth).ToArray();
        var packedB = new float[(n + nr - 1) / nr * nr * depth];
        var edge = new float[mr * nr];
        fixed (float* pa = a, pb = b, pc = c, ppa = packedA, ppb = packedB, pe = edge)
        {
            GemmPacking.PackB(depth, n, nr, pb, rsB, csB, ppb);
            if (multiply)
                CausalMacroKernel.Multiply<float, TKernel>(product, diagonal, m, n, depth, 1f, pa, rsA, csA, ppb, beta, pc, ldc, pe);
            else
            {
                CausalMacroKernel.PackA(product, diagonal, m, depth, mr, pa, rsA, csA, ppa);
                CausalMacroKernel.Run<float, TKernel>(product, diagonal, m, n, depth, 1f, ppa, 0, 0, ppb, beta, pc, ldc, pe);
            }
        }
    }
}
