using Engine.Peft.Spectral;
using Xunit;

namespace Engine.Peft.Tests.Spectral;

/// <summary>The port of torch's Mersenne Twister and CPU randperm (PEFT's positions come from them).</summary>
public class TorchRandpermTests
{
    [Fact]
    public void Mt19937_GivesTheReferenceOutputs()
    {
        // Matsumoto and Nishimura's reference: init_genrand(5489) starts 3499211612, 581869302, 3890346734; the
        // 10000th output of std::mt19937 with the default seed is 4123659995 (C++ standard, [rand.predef]).
        var mt = new TorchMt19937(5489);
        Assert.Equal([3499211612u, 581869302u, 3890346734u], new[] { mt.Next(), mt.Next(), mt.Next() });
        for (int i = 3; i < 9999; i++) mt.Next();
        Assert.Equal(4123659995u, mt.Next());
    }

    [Fact]
    public void Randperm_IsFisherYatesOverTheGeneratorsDraws()
    {
        // The whole shuffle written out on an array, independently of the sparse version.
        const int n = 50;
        var mt = new TorchMt19937(777);
        var r = Enumerable.Range(0, n).Select(i => (long)i).ToArray();
        for (int i = 0; i < n - 1; i++)
        {
            long z = mt.Next() % (uint)(n - i);
            (r[i], r[i + z]) = (r[i + z], r[i]);
        }
        Assert.Equal(r, TorchRandperm.First(n, n, 777));
        Assert.Equal(r[..7], TorchRandperm.First(n, 7, 777));
        Assert.Equal(Enumerable.Range(0, n).Select(i => (long)i), TorchRandperm.First(n, n, 777).Order());
    }

    [Fact]
    public void Randperm_MatchesTorch()
    {
        // torch.randperm(10, generator=torch.Generator().manual_seed(777)) and (...(1000, ...seed 0))[:5] in torch 1.13.
        Assert.Equal([5L, 9, 0, 3, 1, 7, 4, 8, 6, 2], TorchRandperm.First(10, 10, 777));
        Assert.Equal([44L, 37, 675, 775, 947], TorchRandperm.First(1000, 5, 0));
    }
}
