using Engine.Backends.Cpu;
using Xunit;

namespace Engine.Tests.Gemm;

/// <summary>The streaming path for short A (m &lt;= 16): decoding and adapter shapes.</summary>
public class SmallMGemmTests
{
    /// <summary>Small-M runs on the vector paths (the portable fallback always packs).</summary>
    public static TheoryData<string> Paths()
    {
        var data = new TheoryData<string>();
        if (Avx512MicroKernel<float>.IsSupported) data.Add(nameof(GemmPath.Avx512));
        if (Avx2MicroKernel<float>.IsSupported) data.Add(nameof(GemmPath.Avx2));
        return data;
    }

    private static readonly int[] Ms = [1, 2, 3, 4, 5, 7, 16];

    [Theory]
    [MemberData(nameof(Paths))]
    public void SmallM_RowMajorB_MatchesNaive(string pathName)
    {
        var path = Enum.Parse<GemmPath>(pathName);
        foreach (int m in Ms)
            foreach (var (n, k) in new[] { (64, 50), (77, 33), (5, 9), (128, 300) })
            {
                var f = GemmCase<float>.Create(m, n, k, Layout.RowMajor, Layout.RowMajor, 1, 0, seed: m + n);
                f.AssertMatchesNaive(f.Run(path, true, 1));
                var d = GemmCase<double>.Create(m, n, k, Layout.RowView, Layout.RowView, 0.5, 2, seed: m + k);
                d.AssertMatchesNaive(d.Run(path, true, 1));
            }
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void SmallM_TransposedB_MatchesNaive(string pathName)
    {
        var path = Enum.Parse<GemmPath>(pathName);
        foreach (int m in Ms)
            foreach (var (n, k) in new[] { (64, 50), (77, 33), (5, 9), (6, 300) })
            {
                var f = GemmCase<float>.Create(m, n, k, Layout.RowMajor, Layout.Transposed, 1, 0, seed: m + n);
                f.AssertMatchesNaive(f.Run(path, true, 1));
                var d = GemmCase<double>.Create(m, n, k, Layout.Transposed, Layout.Transposed, -1, 1, seed: m + k);
                d.AssertMatchesNaive(d.Run(path, true, 1));
            }
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void SmallM_StridedOperands_MatchNaive(string pathName)
    {
        var path = Enum.Parse<GemmPath>(pathName);
        foreach (var la in new[] { Layout.RowView, Layout.Strided, Layout.Transposed })
            foreach (var lb in new[] { Layout.RowView, Layout.Strided, Layout.Transposed })
                foreach (int m in new[] { 1, 3 })
                {
                    var f = GemmCase<float>.Create(m, 70, 40, la, lb, 1, 0, seed: 31);
                    f.AssertMatchesNaive(f.Run(path, true, 2));
                }
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void SmallM_BetaZero_IgnoresNaNInC(string pathName)
    {
        var path = Enum.Parse<GemmPath>(pathName);
        foreach (var lb in new[] { Layout.RowMajor, Layout.Transposed })
        {
            var f = GemmCase<float>.Create(1, 67, 45, Layout.RowMajor, lb, 1, 0, seed: 32, nanInC: true);
            f.AssertMatchesNaive(f.Run(path, true, 1));
        }
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void SmallM_OneAndTwoThreads_AreBitIdentical(string pathName)
    {
        var path = Enum.Parse<GemmPath>(pathName);
        foreach (var lb in new[] { Layout.RowMajor, Layout.Transposed })
            foreach (int m in new[] { 1, 16 })
            {
                var f = GemmCase<float>.Create(m, 768, 512, Layout.RowMajor, lb, 1, 0.5, seed: 33);
                Assert.Equal(f.Run(path, true, 1), f.Run(path, true, 2));
                var d = GemmCase<double>.Create(m, 300, 257, Layout.RowMajor, lb, 1, 0, seed: 34);
                Assert.Equal(d.Run(path, true, 1), d.Run(path, true, 2));
            }
    }
}
