using Engine.Backends.Cpu;
using Xunit;

namespace Engine.Tests.Gemm;

/// <summary>
/// The row-bias and activation epilogue against its definition: the same product without an epilogue, then the bias
/// added to each element and the activation applied in separate passes. The bias must match bit for bit: the kernels
/// add it in their stores (edge tiles, the short-A path and the empty product in other places), so every path, A read
/// in place or packed, edge tiles, several depth blocks (the bias only after the last) and beta != 0 are covered. The
/// GELU may differ in the last bits: its 16- and 8-lane forms round differently, and the epilogue runs tile by tile.
/// </summary>
public unsafe class GemmEpilogueTests
{
    public static TheoryData<string> Paths() => PackedGemmTests.Paths();

    [Theory]
    [MemberData(nameof(Paths))]
    public void RowBias_MatchesSeparatePasses_BitForBit_AndActivationClosely(string pathName)
    {
        var path = Enum.Parse<GemmPath>(pathName);
        foreach (var (m, n, k) in new[] { (37, 45, 70), (29, 64, 700), (3, 40, 33), (28, 96, 0) })
            foreach (var la in new[] { Layout.RowMajor, Layout.Transposed })
                foreach (var activation in new[] { GemmActivation.None, GemmActivation.GeluErf })
                    foreach (double beta in new[] { 0.0, 0.5 })
                        foreach (int threads in new[] { 1, 2 })
                        {
                            var g = GemmCase<float>.Create(m, n, k, la, Layout.Transposed, 1, beta, seed: m + n + k);
                            var rng = new Random(n);
                            var bias = Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 4 - 2)).ToArray();
                            bool allowSmallM = m <= 4;
                            var expected = g.Run(path, allowSmallM, threads);
                            for (int i = 0; i < m; i++)
                            {
                                var row = expected.AsSpan((int)(g.OffsetC + i * g.Ldc), n);
                                for (int j = 0; j < n; j++) row[j] += bias[j];
                                if (activation == GemmActivation.GeluErf) GeluErfFloat.Forward(row, row);
                            }
                            var actual = (float[])g.C.Clone();
                            fixed (float* a = g.A, b = g.B, c = actual, pb = bias)
                                PackedGemm.Gemm(path, allowSmallM, m, n, k, 1f, a + g.OffsetA, g.RsA, g.CsA, b + g.OffsetB, g.RsB, g.CsB,
                                    (float)beta, c + g.OffsetC, g.Ldc, threads, new GemmEpilogue(activation, pb));
                            for (int i = 0; i < actual.Length; i++)
                            {
                                bool same = activation == GemmActivation.None
                                    ? BitConverter.SingleToInt32Bits(actual[i]) == BitConverter.SingleToInt32Bits(expected[i])
                                    : Math.Abs(actual[i] - expected[i]) <= 1e-5 * Math.Abs(expected[i]) + 1e-30 || float.IsNaN(actual[i]) && float.IsNaN(expected[i]);
                                Assert.True(same, $"{path} {m}x{n}x{k}, A {la}, {activation}, beta {beta}, {threads} threads: element {i} = {actual[i]:G9}, separate passes {expected[i]:G9}");
                            }
                        }
    }

    [Fact]
    public void RowBias_OnDoubles_IsRefusedByName()
    {
        var a = new double[16 * 16];
        var c = new double[16 * 16];
        var bias = new float[16];
        var e = Assert.Throws<NotSupportedException>(() =>
        {
            fixed (double* pa = a, pc = c)
            fixed (float* pb = bias)
                PackedGemm.Gemm(PackedGemm.BestPath, false, 16, 16, 16, 1d, pa, 16, 1, pa, 16, 1, 0d, pc, 16, 1, new GemmEpilogue(GemmActivation.None, pb));
        });
        Assert.Contains("Float32 only", e.Message);
    }
}
