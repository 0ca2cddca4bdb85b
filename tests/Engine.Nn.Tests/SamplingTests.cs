using Xunit;
using static Engine.Nn.Tests.TestSupport;

namespace Engine.Nn.Tests;

public class SamplingTests
{
    static long[] NaiveArgMax(double[] logits, int b, int v) =>
        Enumerable.Range(0, b).Select(i => (long)Enumerable.Range(0, v).MaxBy(j => logits[i * v + j])).ToArray();

    // The same row of logits repeated n times, so one call draws n samples.
    static Tensor Repeated(double[] row, int n) => Tensor.FromArray(row, [1, row.Length]).Expand(n, row.Length).Contiguous();

    [Fact]
    public void Greedy_PicksTheArgMaxOfEveryRow()
    {
        var logits = Randn(1, 6, 9);
        Assert.Equal(NaiveArgMax(logits.ToDoubleArray(), 6, 9), Sampling.NextToken(logits, new SamplingOptions(Greedy: true)).ToArray<long>());
        Assert.Equal(NaiveArgMax(logits.ToDoubleArray(), 6, 9), Sampling.NextToken(logits, new SamplingOptions(Temperature: 0)).ToArray<long>());
    }

    [Fact]
    public void TopK_NeverSamplesOutsideTheKLargestAndReachesEachOfThem()
    {
        double[] row = [0.1, 2.0, -1.0, 1.5, 0.3, 1.9, -0.5, 0.0];
        var samples = Sampling.NextToken(Repeated(row, 2000), new SamplingOptions(TopK: 3), new Generator(3)).ToArray<long>();
        var allowed = new long[] { 1, 5, 3 };
        Assert.All(samples, s => Assert.Contains(s, allowed));
        Assert.All(allowed, a => Assert.Contains(a, samples));
    }

    [Fact]
    public void TopP_KeepsTheSmallestNucleusWhoseMassReachesP()
    {
        double[] probs = [0.1, 0.5, 0.04, 0.3, 0.06];
        var logits = probs.Select(p => Math.Log(p)).ToArray();
        // 0.5 < 0.75 <= 0.5 + 0.3: the nucleus is {1, 3}.
        var samples = Sampling.NextToken(Repeated(logits, 2000), new SamplingOptions(TopP: 0.75), new Generator(4)).ToArray<long>();
        Assert.All(samples, s => Assert.Contains(s, new long[] { 1, 3 }));
        // Renormalised, token 1 has probability 0.5 / 0.8 = 0.625: 2000 draws, standard deviation ~ 22.
        double ones = samples.Count(s => s == 1);
        Assert.InRange(ones, 1250 - 5 * 22, 1250 + 5 * 22);
    }

    [Fact]
    public void UnrestrictedSampling_FollowsTheSoftmaxProbabilities()
    {
        double[] probs = [0.2, 0.5, 0.3];
        var samples = Sampling.NextToken(Repeated(probs.Select(p => Math.Log(p)).ToArray(), 4000), new SamplingOptions(), new Generator(5)).ToArray<long>();
        for (int j = 0; j < 3; j++)
        {
            double sd = Math.Sqrt(4000 * probs[j] * (1 - probs[j]));
            Assert.InRange(samples.Count(s => s == j), 4000 * probs[j] - 5 * sd, 4000 * probs[j] + 5 * sd);
        }
    }

    [Fact]
    public void TemperatureNearZero_ApproachesGreedy()
    {
        var logits = Randn(6, 50, 7);
        var greedy = NaiveArgMax(logits.ToDoubleArray(), 50, 7);
        Assert.Equal(greedy, Sampling.NextToken(logits, new SamplingOptions(Temperature: 1e-4), new Generator(7)).ToArray<long>());
        Assert.NotEqual(greedy, Sampling.NextToken(logits, new SamplingOptions(Temperature: 5), new Generator(7)).ToArray<long>());
    }

    static long[] GreedyByFullRecomputation(Gpt gpt, long[] prompt, int steps)
    {
        var tokens = prompt.ToList();
        using (Autograd.Autograd.NoGrad())
            for (int s = 0; s < steps; s++)
            {
                var logits = gpt.Forward(Tensor.FromArray(tokens.ToArray(), [1, tokens.Count]));
                tokens.Add(NaiveArgMax(logits.Select(1, -1).ToDoubleArray(), 1, gpt.Config.VocabSize)[0]);
            }
        return tokens.ToArray();
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void GreedyGenerationWithTheKvCache_EqualsGenerationByFullRecomputation(bool rotary)
    {
        var gpt = TinyGpt(layers: 2, rotary: rotary, seed: 31);
        ScrambleAll(gpt, 32, 0.5);
        gpt.Eval();
        long[] prompt = [3, 1, 4];
        var expected = GreedyByFullRecomputation(gpt, prompt, 8);
        var actual = Sampling.Generate(gpt, Tensor.FromArray(prompt, [1, 3]), 8, new SamplingOptions(Greedy: true)).ToArray<long>();
        Assert.Equal(expected, actual);
    }

    [Fact]
    public void Generate_StopsAtTheStopToken()
    {
        var gpt = TinyGpt(layers: 1, seed: 41);
        ScrambleAll(gpt, 42, 0.5);
        long[] prompt = [2, 7];
        var free = Sampling.Generate(gpt, Tensor.FromArray(prompt, [1, 2]), 8, new SamplingOptions(Greedy: true)).ToArray<long>();
        Assert.Equal(10, free.Length);
        long stop = free[4]; // the third generated token
        int first = Array.IndexOf(free, stop, 2);
        var stopped = Sampling.Generate(gpt, Tensor.FromArray(prompt, [1, 2]), 8, new SamplingOptions(Greedy: true), stopToken: (int)stop).ToArray<long>();
        Assert.Equal(free.Take(first + 1), stopped);
    }

    [Fact]
    public void Generate_PadsRowsThatStoppedEarlyWithTheStopToken()
    {
        var gpt = TinyGpt(layers: 1, seed: 43);
        ScrambleAll(gpt, 44, 0.5);
        var prompts = Ids(new long[,] { { 2, 7 }, { 5, 1 } });
        var free = Sampling.Generate(gpt, prompts, 6, new SamplingOptions(Greedy: true)).ToArray<long>();
        long stop = free[2]; // row 0's first generated token
        var stopped = Sampling.Generate(gpt, prompts, 6, new SamplingOptions(Greedy: true), stopToken: (int)stop);
        int width = stopped.Size(1);
        var rows = stopped.ToArray<long>();
        Assert.All(Enumerable.Range(2, width - 2), j => Assert.Equal(stop, rows[j]));
        var row1 = rows.Skip(width).ToArray();
        int end = Array.IndexOf(row1, stop, 2);
        Assert.Equal(free.Skip(8).Take(end < 0 ? width : end + 1), row1.Take(end < 0 ? width : end + 1));
    }
}
