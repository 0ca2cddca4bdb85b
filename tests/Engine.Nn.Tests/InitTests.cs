using Xunit;

namespace Engine.Nn.Tests;

public class InitTests
{
    static (double Min, double Max, double Mean, double Std) Stats(Tensor t)
    {
        var v = t.ToDoubleArray();
        double mean = v.Average();
        return (v.Min(), v.Max(), mean, Math.Sqrt(v.Average(x => (x - mean) * (x - mean))));
    }

    // Over n = 60000 samples the standard deviation's relative standard error is below 0.5%; 3% is a safe bound.
    const double StdTolerance = 0.03;

    [Fact]
    public void XavierUniform_StaysWithinItsBoundWithTheUniformStd()
    {
        var t = Init.XavierUniform(Tensor.Zeros(200, 300), gain: 2, generator: new Generator(1));
        double a = 2 * Math.Sqrt(6.0 / 500);
        var s = Stats(t);
        Assert.InRange(s.Min, -a, a);
        Assert.InRange(s.Max, -a, a);
        Assert.True(s.Max > 0.99 * a && s.Min < -0.99 * a, "samples should reach near both ends");
        Assert.InRange(s.Std, a / Math.Sqrt(3) * (1 - StdTolerance), a / Math.Sqrt(3) * (1 + StdTolerance));
    }

    [Fact]
    public void XavierNormal_HasStdGainTimesSqrtTwoOverFanSum()
    {
        var s = Stats(Init.XavierNormal(Tensor.Zeros(200, 300), generator: new Generator(2)));
        double std = Math.Sqrt(2.0 / 500);
        Assert.InRange(s.Std, std * (1 - StdTolerance), std * (1 + StdTolerance));
        Assert.InRange(s.Mean, -5 * std / Math.Sqrt(60000), 5 * std / Math.Sqrt(60000));
    }

    [Fact]
    public void KaimingUniform_UsesFanInOrFanOut()
    {
        var fanIn = Stats(Init.KaimingUniform(Tensor.Zeros(300, 200), generator: new Generator(3)));
        double bIn = Math.Sqrt(6.0 / 200);
        Assert.InRange(fanIn.Min, -bIn, bIn);
        Assert.InRange(fanIn.Max, 0.99 * bIn, bIn);
        var fanOut = Stats(Init.KaimingUniform(Tensor.Zeros(300, 200), fanOut: true, generator: new Generator(4)));
        double bOut = Math.Sqrt(6.0 / 300);
        Assert.InRange(fanOut.Max, 0.99 * bOut, bOut);
        Assert.InRange(fanOut.Std, bOut / Math.Sqrt(3) * (1 - StdTolerance), bOut / Math.Sqrt(3) * (1 + StdTolerance));
    }

    [Fact]
    public void KaimingNormal_HasStdSqrtTwoOverFanInForReluAndLessForLeakySlopes()
    {
        var s = Stats(Init.KaimingNormal(Tensor.Zeros(300, 200), generator: new Generator(5)));
        double std = Math.Sqrt(2.0 / 200);
        Assert.InRange(s.Std, std * (1 - StdTolerance), std * (1 + StdTolerance));
        var leaky = Stats(Init.KaimingNormal(Tensor.Zeros(300, 200), a: 1, generator: new Generator(6)));
        Assert.InRange(leaky.Std, std / Math.Sqrt(2) * (1 - StdTolerance), std / Math.Sqrt(2) * (1 + StdTolerance));
    }

    [Fact]
    public void Fans_MultiplyTheReceptiveFieldForConvolutionShapes()
    {
        Assert.Equal((3 * 5 * 5, 16 * 5 * 5), Init.Fans([16, 3, 5, 5]));
        Assert.Equal((200, 300), Init.Fans([300, 200]));
        Assert.Throws<ArgumentException>(() => Init.Fans([7]));
    }

    [Fact]
    public void SameSeed_GivesTheSameInitialisationAndAnotherSeedDoesNot()
    {
        var a = Init.XavierNormal(Tensor.Zeros(8, 8), generator: new Generator(42)).ToDoubleArray();
        var b = Init.XavierNormal(Tensor.Zeros(8, 8), generator: new Generator(42)).ToDoubleArray();
        var c = Init.XavierNormal(Tensor.Zeros(8, 8), generator: new Generator(43)).ToDoubleArray();
        Assert.Equal(a, b);
        Assert.NotEqual(a, c);
        Assert.Equal(TestSupport.TinyGpt(seed: 9).Blocks[0].Attn.Qkv.Weight.ToDoubleArray(), TestSupport.TinyGpt(seed: 9).Blocks[0].Attn.Qkv.Weight.ToDoubleArray());
    }

    [Fact]
    public void LinearDefaultInit_IsUniformWithinOneOverSqrtFanIn()
    {
        var lin = new Linear(400, 150, generator: new Generator(7));
        double bound = 1 / Math.Sqrt(400);
        var w = Stats(lin.Weight);
        var b = Stats(lin.Bias!);
        Assert.InRange(w.Min, -bound, bound);
        Assert.InRange(w.Max, 0.99 * bound, bound);
        Assert.InRange(w.Std, bound / Math.Sqrt(3) * (1 - StdTolerance), bound / Math.Sqrt(3) * (1 + StdTolerance));
        Assert.InRange(b.Min, -bound, bound);
        Assert.InRange(b.Max, -bound, bound);
    }

    [Fact]
    public void ZerosAndOnes_FillTheWholeTensor()
    {
        Assert.All(Init.Ones(Tensor.Zeros(3, 2)).ToDoubleArray(), v => Assert.Equal(1, v));
        Assert.All(Init.Zeros(Tensor.Ones(3, 2)).ToDoubleArray(), v => Assert.Equal(0, v));
    }

    [Fact]
    public void Skip_LeavesParametersAsCreatedAndDrawsNothing_UntilTheOutermostScopeEnds()
    {
        var generator = new Generator(11);
        Linear skipped;
        using (Init.Skip())
        {
            using (Init.Skip()) { }
            // Still skipping after an inner scope closed: scopes nest.
            skipped = new Linear(30, 20, generator: generator);
            Assert.Equal(0, Init.TruncatedNormal(Tensor.Zeros(5), generator: generator).ToDoubleArray().Sum());
            Assert.True(Init.IsSkipping);
        }
        Assert.False(Init.IsSkipping);
        Assert.All(skipped.Weight.ToDoubleArray(), v => Assert.Equal(0, v));
        Assert.All(skipped.Bias!.ToDoubleArray(), v => Assert.Equal(0, v));
        // Nothing was drawn: the generator gives the same layer a fresh one with the same seed gives.
        var after = new Linear(30, 20, generator: generator);
        var fresh = new Linear(30, 20, generator: new Generator(11));
        Assert.Equal(fresh.Weight.ToDoubleArray(), after.Weight.ToDoubleArray());
        Assert.Contains(after.Weight.ToDoubleArray(), v => v != 0);
    }
}
