using Engine.Backends.Cpu;
using Xunit;

namespace Engine.Tests.Gemm;

/// <summary>
/// The cache blocking derived from cache sizes (Low et al. 2016): the inequalities the model rests on hold for hand-given
/// caches of real CPUs and for the defaults, and GEMMs straddling the derived blocks still match the naive product.
/// </summary>
public class GemmBlockingTests
{
    const long KiB = 1024, MiB = 1024 * 1024;

    public static TheoryData<string, long, int, long, long, int> Caches() => new()
    {
        { "Xeon (Sapphire Rapids)", 48 * KiB, 12, 2 * MiB, 105 * MiB, 112 },
        { "Zen 5", 48 * KiB, 12, 1 * MiB, 32 * MiB, 16 },
        { "Skylake client", 32 * KiB, 8, 256 * KiB, 8 * MiB, 8 },
        { "unknown (defaults)", 32 * KiB, 8, 1 * MiB, 8 * MiB, 4 },
        { "direct-mapped oddity", 16 * KiB, 1, 512 * KiB, 0, 1 },
    };

    static readonly (int MR, int NR, int Bytes)[] Kernels = [(14, 32, 4), (14, 16, 8), (6, 16, 4), (6, 8, 8), (6, 8, 4), (6, 4, 8)];

    [Theory]
    [MemberData(nameof(Caches))]
    public void Derive_BlocksFitTheirCaches(string cpu, long l1, int ways, long l2, long l3, int sharers)
    {
        var caches = new CpuCaches(l1, ways, l2, l3, sharers, cpu);
        foreach (var (mr, nr, s) in Kernels)
        {
            var b = GemmBlocking.Derive(mr, nr, s, caches);
            string what = $"{cpu}, {mr}x{nr} of {s}-byte values: {b}";
            Assert.True(b.KC >= 16, what);
            // The B sliver fits in L1.
            Assert.True((long)nr * b.KC * s <= l1, what);
            // The packed A block fits in half of L2, and a resident whole B fits beside it.
            Assert.True(b.MC % mr == 0 && b.MC >= mr, what);
            Assert.True((long)b.MC * b.KC * s <= Math.Max(l2 / 2, (long)mr * b.KC * s), what);
            Assert.True(b.ResidentBBytes + (long)b.MC * b.KC * s <= l2, what);
            // The packed B block fits in half of this core's share of L3 (at least one panel wide).
            Assert.True(b.NC % nr == 0 && b.NC >= nr, what);
            Assert.True(b.NC == nr || (long)b.KC * b.NC * s <= l3 / sharers / 2, what);
        }
    }

    [Fact]
    public void Derive_Zen5_Avx512Float_MatchesTheModelByHand()
    {
        // 12-way 48 KiB L1d: ways of 4 KiB; A gets floor(11 / (1 + 32/14)) = 3 ways, k_c = 3 * 4096 / (14 * 4) = 219;
        // deeper up to the B sliver filling L1, 48 KiB / (32 * 4) = 384 (below 2 x 219), so KC = 384.
        // MC = floor(512 KiB / (384 * 4) / 14) * 14 = 336; NC = floor(16 MiB / 2 / (384 * 4) / 32) * 32 = 5440.
        var b = GemmBlocking.Derive(14, 32, 4, new CpuCaches(48 * KiB, 12, 1 * MiB, 32 * MiB, 2, "Zen 5"));
        Assert.Equal((384, 336, 5440), (b.KC, b.MC, b.NC));
        Assert.Equal(1 * MiB - 336L * 384 * 4, b.ResidentBBytes);
        // Zen 4 (8-way 32 KiB): k_c = floor(7 / (1 + 32/14)) = 2 ways of 4 KiB / 56 = 146; the B sliver fills L1 at 256.
        var zen4 = GemmBlocking.Derive(14, 32, 4, new CpuCaches(32 * KiB, 8, 1 * MiB, 32 * MiB, 2, "Zen 4"));
        Assert.Equal(256, zen4.KC);
    }

    [Theory]
    [InlineData("48K", 48 * KiB)]
    [InlineData("1024K", MiB)]
    [InlineData("32M", 32 * MiB)]
    [InlineData("", 0)]
    [InlineData("junk", 0)]
    public void ParseSize_ReadsSysfsSizes(string text, long bytes) => Assert.Equal(bytes, CpuCaches.ParseSize(text));

    [Theory]
    [InlineData("0", 1)]
    [InlineData("0-1", 2)]
    [InlineData("0-3,8-11", 8)]
    [InlineData("", 1)]
    public void CountCpus_ReadsSysfsLists(string list, int count) => Assert.Equal(count, CpuCaches.CountCpus(list));

    [Fact]
    public void Detected_IsPlausible()
    {
        var c = CpuCaches.Detected;
        Assert.True(c.L1d >= 4 * KiB && c.L2 >= c.L1d && c.L1Ways >= 1 && c.L3Sharers >= 1, c.ToString());
    }

    [Theory]
    [MemberData(nameof(PackedGemmTests.Paths), MemberType = typeof(PackedGemmTests))]
    public void Gemm_OddSizesStraddlingTheDerivedBlocks_MatchNaive(string pathName)
    {
        var path = Enum.Parse<GemmPath>(pathName);
        var b = PackedGemm.Blocking<float>(path);
        // One A block plus a partial tile, two depth blocks plus a remainder; B narrow (packed whole) and wide (too wide
        // to pack whole at one thread: column chunks or the classic nest, as ResidentColumns decides).
        int m = b.MC + b.MR + 3, k = 2 * b.KC + 7;
        int wide = (int)(b.ResidentBBytes / (4L * k)) + b.NR + 5;
        foreach (int n in new[] { b.NR + 5, wide })
            foreach (int threads in new[] { 1, 2 })
            {
                var g = GemmCase<float>.Create(m, n, k, Layout.RowMajor, Layout.Transposed, 1, 0.5, seed: n + threads);
                g.AssertMatchesNaive(g.Run(path, allowSmallM: false, threads));
            }
        // A depth a third over KC: one depth block (not two), an edge tile in each direction.
        var oneBlock = GemmCase<float>.Create(b.MR + 3, b.NR + 5, b.KC + b.KC / 3, Layout.Transposed, Layout.RowMajor, 1, 0.5, seed: 5);
        oneBlock.AssertMatchesNaive(oneBlock.Run(path, allowSmallM: false, 1));
        var d = PackedGemm.Blocking<double>(path);
        var g64 = GemmCase<double>.Create(d.MC + 1, d.NR + 3, d.KC + 1, Layout.RowMajor, Layout.RowMajor, 1, 0, seed: 3);
        g64.AssertMatchesNaive(g64.Run(path, false, 2));
    }

    [Fact]
    public void ResidentColumns_PacksWholeInChunksOrStreams_AsTheTrafficEstimateSays()
    {
        // Zen 5's float blocking: 1 MiB - 336 x 384 x 4 bytes = 532,480 bytes for a resident B.
        var b = GemmBlocking.Derive(14, 32, 4, new CpuCaches(48 * KiB, 12, 1 * MiB, 32 * MiB, 2, "Zen 5"));
        // MiniLM's QKV weight per thread (192 of 384 columns, k = 384, 288 KiB) fits whole.
        Assert.Equal(192, PackedGemm.ResidentColumns(2048, 192, 384, 2, 32, 4, b));
        // Its feed-forward weight per thread (768 columns, 1.125 MiB) does not: 320 columns fit, so 3 chunks of 256
        // (768 / 3). In three depth blocks that moves 2048 x (2 x 3 x 384 + 768) elements against 2048 x (2 x 384 +
        // 5 x 768) for the classic nest; in two it is a tie (3072 per row each way), and the classic nest is kept.
        Assert.Equal(256, PackedGemm.ResidentColumns(2048, 768, 384, 3, 32, 4, b));
        Assert.Equal(0, PackedGemm.ResidentColumns(2048, 768, 384, 2, 32, 4, b));
        // A deep B (k = 4096, 19 depth blocks) fits 32 columns: 12 chunks would pack A 12 times, which moves more than
        // C's extra trips do (2 x 12 x 4096 + 384 = 98,688 against 2 x 4096 + 37 x 384 = 22,400 per row): classic.
        Assert.Equal(0, PackedGemm.ResidentColumns(100, 384, 4096, 19, 32, 4, b));
        // Wider than NC, or not a single panel fits: classic.
        Assert.Equal(0, PackedGemm.ResidentColumns(100, b.NC + 32, 16, 1, 32, 4, b));
        Assert.Equal(0, PackedGemm.ResidentColumns(100, 64, 100_000, 400, 32, 4, b));
    }

    [Theory]
    [MemberData(nameof(PackedGemmTests.Paths), MemberType = typeof(PackedGemmTests))]
    public void Gemm_DeepBThatTakesTheClassicNest_MatchesNaive(string pathName)
    {
        var path = Enum.Parse<GemmPath>(pathName);
        var b = PackedGemm.Blocking<float>(path);
        // Deep enough that a chunk of B holds only a few panels, wide enough for several chunks: the classic loop nest.
        int m = 2 * b.MR + 3, k = 20 * b.KC + 7, kBlocks = (k + b.KC - 1) / b.KC;
        int fit = (int)(b.ResidentBBytes / (4L * k)) / b.NR * b.NR;
        int n = Math.Max(6 * fit, 4 * b.NR) + 5;
        Assert.Equal(0, PackedGemm.ResidentColumns(m, n, k, kBlocks, b.NR, 4, b));
        var g = GemmCase<float>.Create(m, n, k, Layout.RowMajor, Layout.Transposed, 1, 0.5, seed: 11);
        g.AssertMatchesNaive(g.Run(path, allowSmallM: false, 1));
    }

    [Theory]
    [InlineData(32 * 1024, 8, 4096, 14)]   // a 1024-wide float A: every row in one of L1's 64 sets
    [InlineData(32 * 1024, 8, 2048, 7)]    // two sets
    [InlineData(32 * 1024, 8, 1536, 2)]    // MiniLM's 384-wide A: eight sets
    [InlineData(32 * 1024, 8, 1024, 4)]
    [InlineData(48 * 1024, 12, 4096, 14)]  // Zen 5: 64 sets of 12 ways
    [InlineData(48 * 1024, 12, 512, 2)]
    [InlineData(32 * 1024, 8, 4, 14)]      // rows one float apart share a line
    public void RowsPerL1Set_CountsTheRowsThatShareASet(long l1, int ways, long strideBytes, int expected)
        => Assert.Equal(expected, new CpuCaches(l1, ways, MiB, 8 * MiB, 1, "test").RowsPerL1Set(14, strideBytes));
}
