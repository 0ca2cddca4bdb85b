using Engine.Backends.Cpu;
using Engine.Backends;
using Xunit;

namespace Engine.Tests;

[Collection(ProcessWideSettingsCollection.Name)]
public class RandomTests
{
    [Fact]
    public void Philox_MatchesRandom123KnownAnswer()
    {
        // Random123 kat_vectors: philox4x32 10 rounds, counter 0 and key 0.
        Assert.Equal((0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u), Philox.Block(0, 0));
    }

    [Fact]
    public void SameSeed_GivesSameNumbers_DifferentSeedsDiffer()
    {
        foreach (var dtype in Samples.Floats)
        {
            var a = Tensor.Randn([1000], dtype: dtype, generator: new Generator(42)).ToDoubleArray();
            var b = Tensor.Randn([1000], dtype: dtype, generator: new Generator(42)).ToDoubleArray();
            var c = Tensor.Randn([1000], dtype: dtype, generator: new Generator(43)).ToDoubleArray();
            Assert.Equal(a, b);
            Assert.NotEqual(a, c);
        }
        Tensor.ManualSeed(7);
        var d = Tensor.Rand([50]).ToArray<float>();
        Tensor.ManualSeed(7);
        Assert.Equal(d, Tensor.Rand([50]).ToArray<float>());
    }

    [Fact]
    public void Generator_ReproducesASequenceOfDraws_AndDrawsAreConsecutiveCounters()
    {
        var g = new Generator(5);
        var first = Tensor.Rand([10, 10], generator: g).ToArray<float>();
        var second = Tensor.Randn([7], generator: g).ToArray<float>();
        var third = Tensor.Randint(0, 10, [5], generator: g).ToArray<long>();
        Assert.Equal(112UL, g.Offset);
        var h = new Generator(5);
        Assert.Equal(first, Tensor.Rand([10, 10], generator: h).ToArray<float>());
        Assert.Equal(second, Tensor.Randn([7], generator: h).ToArray<float>());
        Assert.Equal(third, Tensor.Randint(0, 10, [5], generator: h).ToArray<long>());
        // One draw of 30 equals three draws of 10: element i always takes counter offset + i.
        var whole = Tensor.Rand([30], dtype: DType.Float64, generator: new Generator(9)).ToArray<double>();
        var parts = new Generator(9);
        var pieces = Enumerable.Range(0, 3).SelectMany(_ => Tensor.Rand([10], dtype: DType.Float64, generator: parts).ToArray<double>()).ToArray();
        Assert.Equal(whole, pieces);
        var restored = new Generator(9) { Offset = 10 };
        Assert.Equal(whole[10..20], Tensor.Rand([10], dtype: DType.Float64, generator: restored).ToArray<double>());
    }

    [Fact]
    public void RandomNumbers_DoNotDependOnMaxThreads()
    {
        int saved = CpuThreading.MaxThreads;
        try
        {
            double[][] Draw()
            {
                var g = new Generator(3);
                return [Tensor.Randn([200_000], generator: g).ToDoubleArray(), Tensor.Rand([100_000], dtype: DType.Float64, generator: g).ToDoubleArray(),
                        Tensor.Randint(-5, 5, [100_000], generator: g).ToDoubleArray(), Tensor.Bernoulli([100_000], 0.3, generator: g).ToDoubleArray()];
            }
            CpuThreading.MaxThreads = 1;
            var one = Draw();
            CpuThreading.MaxThreads = 2;
            var two = Draw();
            for (int i = 0; i < one.Length; i++) Assert.Equal(one[i], two[i]);
        }
        finally { CpuThreading.MaxThreads = saved; }
    }

    [Theory]
    [InlineData(DType.Float32)]
    [InlineData(DType.Float64)]
    public void Randn_HasRequestedMeanAndStd(DType dtype)
    {
        var x = Tensor.Randn([100_000], mean: 1.5, std: 2, dtype: dtype, generator: new Generator(11)).ToDoubleArray();
        double mean = x.Average(), std = Math.Sqrt(x.Select(v => (v - mean) * (v - mean)).Sum() / (x.Length - 1));
        // Standard error of the mean is 2/sqrt(1e5) ~ 0.0063; of the std ~ 0.0045. Bounds are several times that.
        Assert.InRange(mean, 1.5 - 0.03, 1.5 + 0.03);
        Assert.InRange(std, 2 - 0.03, 2 + 0.03);
        double within1 = x.Count(v => Math.Abs(v - 1.5) < 2) / (double)x.Length;
        Assert.InRange(within1, 0.6827 - 0.01, 0.6827 + 0.01);
    }

    [Theory]
    [InlineData(DType.Float32)]
    [InlineData(DType.Float64)]
    public void Rand_IsUniformOnHalfOpenRange(DType dtype)
    {
        var x = Tensor.Rand([100_000], -3, 5, dtype, new Generator(12)).ToDoubleArray();
        Assert.All(x, v => Assert.True(v >= -3 && v < 5, $"{v} outside [-3, 5)"));
        Assert.InRange(x.Average(), 1 - 0.05, 1 + 0.05);
        // Each eighth of the range holds about 1/8 of the draws.
        for (int k = 0; k < 8; k++)
            Assert.InRange(x.Count(v => v >= -3 + k && v < -2 + k) / (double)x.Length, 0.125 - 0.01, 0.125 + 0.01);
    }

    [Theory]
    [InlineData(DType.Int32)]
    [InlineData(DType.Int64)]
    public void Randint_CoversExactlyLowToHighExclusive(DType dtype)
    {
        var t = Tensor.Randint(-2, 5, [70_000], dtype, new Generator(13));
        Assert.Equal(dtype, t.DType);
        var x = t.ToDoubleArray();
        Assert.All(x, v => Assert.True(v >= -2 && v < 5 && v == Math.Floor(v), $"{v} outside [-2, 5)"));
        for (int k = -2; k < 5; k++)
            Assert.InRange(x.Count(v => v == k) / (double)x.Length, 1 / 7.0 - 0.01, 1 / 7.0 + 0.01);
    }

    [Fact]
    public void Bernoulli_HasRequestedFrequency()
    {
        foreach (var p in new[] { 0.0, 0.2, 0.9, 1.0 })
        {
            var x = Tensor.Bernoulli([100_000], p, generator: new Generator(14)).ToDoubleArray();
            Assert.All(x, v => Assert.True(v == 0 || v == 1));
            Assert.InRange(x.Average(), p - 0.01, p + 0.01);
        }
        var mask = Tensor.Bernoulli([1000], 0.5, DType.Bool, new Generator(15));
        Assert.Equal(DType.Bool, mask.DType);
    }
}
