using Engine.Backends.Cpu;
using Xunit;

namespace Engine.Tests;

[Collection(ProcessWideSettingsCollection.Name)]
public class ThreadingTests
{
    static Tensor[] Compute()
    {
        var rng = new System.Random(5);
        var a = Samples.Make(rng, Samples.Large, DType.Float32, Layout.Transposed).T;
        var b = Samples.Make(rng, [Samples.Large[1]], DType.Float32).T;
        var m = Samples.Make(rng, [64, 96], DType.Float32).T;
        var single = Samples.Make(rng, [200_000], DType.Float32).T;
        return
        [
            a + b, a.Exp(), a.Sum(), a.Sum(0), a.Sum(1), a.Amax([0]), single.Sum(), single.Amax(), a.Softmax(1), a.LogSoftmax(0),
            a.Cumsum(0), a.ArgMax(1), a.Var(0), a.LogSumExp(1), m.MatMul(m.T), a.Contiguous(), single.Sigmoid(),
        ];
    }

    [Fact]
    public void Results_AreIdenticalWithOneAndTwoThreads()
    {
        int saved = CpuThreading.MaxThreads;
        try
        {
            CpuThreading.MaxThreads = 1;
            var one = Compute();
            CpuThreading.MaxThreads = 2;
            var two = Compute();
            for (int i = 0; i < one.Length; i++)
                Assert.True(one[i].ToDoubleArray().SequenceEqual(two[i].ToDoubleArray()), $"result {i} differs between 1 and 2 threads");
        }
        finally { CpuThreading.MaxThreads = saved; }
    }

    [Fact]
    public void MaxThreads_RejectsLessThanOne()
    {
        int saved = CpuThreading.MaxThreads;
        Assert.Throws<ArgumentOutOfRangeException>(() => CpuThreading.MaxThreads = 0);
        Assert.Equal(saved, CpuThreading.MaxThreads);
    }
}
