using Engine.Backends.Cpu;
using Xunit;

namespace Engine.Tests.Gemm;

/// <summary>The packed (BLIS) path on every kernel family this CPU can run, against the naive oracle.</summary>
public unsafe class PackedGemmTests
{
    /// <summary>Every kernel family the test machine supports (all three on an AVX-512 machine).</summary>
    public static TheoryData<string> Paths()
    {
        var data = new TheoryData<string>();
        if (Avx512MicroKernel<float>.IsSupported) data.Add(nameof(GemmPath.Avx512));
        if (Avx2MicroKernel<float>.IsSupported) data.Add(nameof(GemmPath.Avx2));
        data.Add(nameof(GemmPath.Vector128));
        return data;
    }

    // Sizes around the tile shapes (6, 14 rows; 8, 16, 32 columns) and over a KC block (256), none of them multiples.
    private static readonly (int M, int N, int K)[] EdgeShapes =
    [
        (1, 1, 1), (2, 3, 5), (6, 16, 7), (14, 32, 9), (15, 33, 17), (13, 31, 3), (29, 47, 61),
        (7, 65, 257), (43, 17, 300), (5, 100, 513),
    ];

    [Theory]
    [MemberData(nameof(Paths))]
    public void Gemm_EdgeSizes_MatchNaive_Float(string pathName)
    {
        var path = Enum.Parse<GemmPath>(pathName);
        foreach (var (m, n, k) in EdgeShapes)
        {
            var g = GemmCase<float>.Create(m, n, k, Layout.RowMajor, Layout.RowMajor, 1, 0, seed: m * 1000 + n + k);
            g.AssertMatchesNaive(g.Run(path, allowSmallM: false, threads: 1));
        }
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void Gemm_EdgeSizes_MatchNaive_Double(string pathName)
    {
        var path = Enum.Parse<GemmPath>(pathName);
        foreach (var (m, n, k) in EdgeShapes)
        {
            var g = GemmCase<double>.Create(m, n, k, Layout.RowMajor, Layout.RowMajor, 1, 0, seed: m * 1000 + n + k);
            g.AssertMatchesNaive(g.Run(path, allowSmallM: false, threads: 1));
        }
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void Gemm_AllTransposeCombinations_MatchNaive(string pathName)
    {
        var path = Enum.Parse<GemmPath>(pathName);
        foreach (var la in new[] { Layout.RowMajor, Layout.Transposed })
            foreach (var lb in new[] { Layout.RowMajor, Layout.Transposed })
            {
                var f = GemmCase<float>.Create(37, 45, 70, la, lb, 1, 0, seed: 11);
                f.AssertMatchesNaive(f.Run(path, false, 1));
                var d = GemmCase<double>.Create(37, 45, 70, la, lb, 1, 0, seed: 12);
                d.AssertMatchesNaive(d.Run(path, false, 1));
            }
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void Gemm_SubMatrixViewsAndNonUnitStrides_MatchNaive(string pathName)
    {
        var path = Enum.Parse<GemmPath>(pathName);
        foreach (var la in new[] { Layout.RowView, Layout.Strided })
            foreach (var lb in new[] { Layout.RowView, Layout.Strided, Layout.Transposed })
            {
                var f = GemmCase<float>.Create(23, 41, 33, la, lb, 1, 0, seed: 13);
                f.AssertMatchesNaive(f.Run(path, false, 2));
                var d = GemmCase<double>.Create(23, 41, 33, la, lb, 1, 0, seed: 14);
                d.AssertMatchesNaive(d.Run(path, false, 2));
            }
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void Gemm_InOnePart_AllocatesNothing(string pathName)
    {
        // A decoding step is dozens of small products; the one-part form must not allocate the parallel form's closure.
        var path = Enum.Parse<GemmPath>(pathName);
        var g = GemmCase<float>.Create(7, 40, 33, Layout.RowMajor, Layout.Transposed, 1, 0, seed: 19);
        g.Run(path, allowSmallM: false, threads: 1);
        var c = (float[])g.C.Clone();
        long before = GC.GetAllocatedBytesForCurrentThread();
        fixed (float* a = g.A, b = g.B, pc = c)
            for (int i = 0; i < 3; i++)
                PackedGemm.Gemm(path, false, g.M, g.N, g.K, 1f, a + g.OffsetA, g.RsA, g.CsA, b + g.OffsetB, g.RsB, g.CsB, 0f, pc + g.OffsetC, g.Ldc, 1);
        Assert.Equal(before, GC.GetAllocatedBytesForCurrentThread());
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void Gemm_BroadcastOperands_MatchNaive(string pathName)
    {
        // Strides of 0 (expanded tensors): A read in place with rows or k steps 0 apart, or packed.
        var path = Enum.Parse<GemmPath>(pathName);
        foreach (var la in new[] { Layout.RowBroadcast, Layout.ColumnBroadcast, Layout.Transposed })
            foreach (var lb in new[] { Layout.RowBroadcast, Layout.ColumnBroadcast, Layout.RowMajor })
                foreach (var (m, n, k) in new[] { (37, 45, 70), (29, 47, 61) })
                {
                    var f = GemmCase<float>.Create(m, n, k, la, lb, 1, 0, seed: 17);
                    f.AssertMatchesNaive(f.Run(path, false, 1));
                    var d = GemmCase<double>.Create(m, n, k, la, lb, 1, 0, seed: 18);
                    d.AssertMatchesNaive(d.Run(path, false, 1));
                }
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void Gemm_AlphaAndBeta_ScaleProductAndOldC(string pathName)
    {
        var path = Enum.Parse<GemmPath>(pathName);
        foreach (var (alpha, beta) in new[] { (1.0, 1.0), (2.5, -0.5), (-1.0, 0.0), (0.5, 1.0) })
        {
            var f = GemmCase<float>.Create(30, 40, 300, Layout.RowMajor, Layout.Transposed, alpha, beta, seed: 15);
            f.AssertMatchesNaive(f.Run(path, false, 1));
            var d = GemmCase<double>.Create(30, 40, 300, Layout.Transposed, Layout.RowMajor, alpha, beta, seed: 16);
            d.AssertMatchesNaive(d.Run(path, false, 1));
        }
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void Gemm_BetaZero_IgnoresNaNInC(string pathName)
    {
        var path = Enum.Parse<GemmPath>(pathName);
        var f = GemmCase<float>.Create(31, 35, 300, Layout.RowMajor, Layout.RowMajor, 1.5, 0, seed: 17, nanInC: true);
        f.AssertMatchesNaive(f.Run(path, false, 1));
        var d = GemmCase<double>.Create(31, 35, 300, Layout.RowMajor, Layout.RowMajor, 1.5, 0, seed: 18, nanInC: true);
        d.AssertMatchesNaive(d.Run(path, false, 1));
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void Gemm_LargeBlocks_MatchNaive(string pathName)
    {
        var path = Enum.Parse<GemmPath>(pathName);
        // Bigger than one MC x KC block and one NC panel of every kernel, so every blocking loop turns more than once.
        var f = GemmCase<float>.Create(350, 2100, 520, Layout.RowMajor, Layout.RowMajor, 1, 0.5, seed: 19);
        f.AssertMatchesNaive(f.Run(path, false, 2));
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void Gemm_OneAndTwoThreads_AreBitIdentical(string pathName)
    {
        var path = Enum.Parse<GemmPath>(pathName);
        foreach (var (m, n, k) in new[] { (130, 150, 300), (300, 40, 200), (64, 600, 64) })
        {
            var f = GemmCase<float>.Create(m, n, k, Layout.RowMajor, Layout.Transposed, 1, 0.5, seed: m + n);
            Assert.Equal(f.Run(path, false, 1), f.Run(path, false, 2));
            var d = GemmCase<double>.Create(m, n, k, Layout.Transposed, Layout.RowMajor, 1, 0, seed: m + k);
            Assert.Equal(d.Run(path, false, 1), d.Run(path, false, 2));
        }
    }

    [Fact]
    public void Gemm_KZero_ScalesCByBeta()
    {
        var g = GemmCase<float>.Create(5, 7, 0, Layout.RowMajor, Layout.RowMajor, 1, 0.5, seed: 20);
        g.AssertMatchesNaive(g.RunPublic(0));
        var z = GemmCase<double>.Create(5, 7, 0, Layout.RowMajor, Layout.RowMajor, 1, 0, seed: 21, nanInC: true);
        z.AssertMatchesNaive(z.RunPublic(0));
    }

    [Fact]
    public void Gemm_EmptyOutput_WritesNothing()
    {
        foreach (var (m, n) in new[] { (0, 5), (5, 0) })
        {
            var g = GemmCase<float>.Create(m, n, 3, Layout.RowMajor, Layout.RowMajor, 1, 0, seed: 22);
            Assert.Equal(g.C, g.RunPublic(1));
        }
    }

    [Fact]
    public unsafe void Gemm_NegativeDimension_ThrowsNamingTheShape()
    {
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => PackedGemm.Gemm(-1, 2, 3, 1f, null, 3, 1, null, 2, 1, 0f, null, 2));
        Assert.Contains("[-1,3] @ [3,2]", ex.Message);
    }

    [Fact]
    public void Gemm_PublicEntryPoint_ManyRandomShapes_MatchNaive()
    {
        var rng = new Random(23);
        for (int trial = 0; trial < 40; trial++)
        {
            int m = rng.Next(1, 70), n = rng.Next(1, 90), k = rng.Next(1, 90);
            var la = (Layout)rng.Next(4);
            var lb = (Layout)rng.Next(4);
            var f = GemmCase<float>.Create(m, n, k, la, lb, 1, trial % 2, seed: trial);
            f.AssertMatchesNaive(f.RunPublic(trial % 3));
            var d = GemmCase<double>.Create(m, n, k, la, lb, -2, 0, seed: trial);
            d.AssertMatchesNaive(d.RunPublic(trial % 3));
        }
    }
}
