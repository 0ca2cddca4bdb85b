using Engine.Nn.Merging;
using Xunit;
using static Engine.Nn.Tests.TestSupport;

namespace Engine.Nn.Tests.Merging;

/// <summary>PCB-merging (spec adapters-other.md 18; reference duguodong7/pcb-merging <c>pcb-merging.py</c>).</summary>
public class PcbMergeTests
{
    static Dictionary<string, Tensor> Dict(params (string Name, double[] Values, int[] Shape)[] tensors)
        => tensors.ToDictionary(t => t.Name, t => Tensor.FromArray(t.Values, t.Shape));

    static IReadOnlyDictionary<string, Tensor> Plus(Dictionary<string, Tensor> b, Dictionary<string, double[]> delta)
        => b.ToDictionary(kv => kv.Key, kv => Tensor.FromArray(kv.Value.ToDoubleArray().Zip(delta[kv.Key], (x, d) => x + d).ToArray(), kv.Value.Shape));

    static double[] Random(ulong seed, int n, double scale = 1) => Randn64(seed, n).ToDoubleArray().Select(x => x * scale).ToArray();

    /// <summary>The spec's oracle: one model, λ = 1 gives θ_pre + τ̃ where scale &gt; 0 and θ_pre elsewhere.</summary>
    [Fact]
    public void SingleModel_KeepsTheClippedTaskVectorOnTheTopFraction()
    {
        // 20 distinct magnitudes below 1 (tanh(τ²) stays strictly increasing), signs alternating, positions shuffled.
        var order = new[] { 7, 2, 15, 0, 11, 19, 4, 9, 13, 1, 17, 6, 3, 18, 10, 5, 14, 8, 16, 12 };
        var tau = new double[20];
        for (int k = 0; k < 20; k++) tau[order[k]] = (k % 2 == 0 ? 1 : -1) * (0.05 + 0.04 * k);
        var b = Dict(("w", Random(1, 12), [3, 4]), ("b", Random(2, 8), [8]));
        var model = Plus(b, new() { ["w"] = tau[..12], ["b"] = tau[12..] });

        var merged = new PcbMerge(new MergeOptions(Density: 0.5)).Merge(b, [model]);

        // D = 20: clipping caps |τ| at rank ⌊20·0.9999 − 1⌋ = 18, so the largest takes the second largest's magnitude;
        // β grows with |τ|, and r = 0.5 zeroes everything at or below rank ⌊20·0.5⌋ = 10: the 9 largest are kept.
        var flatBase = b["w"].ToDoubleArray().Concat(b["b"].ToDoubleArray()).ToArray();
        var expected = (double[])flatBase.Clone();
        for (int k = 11; k < 20; k++)
        {
            double magnitude = k == 19 ? 0.05 + 0.04 * 18 : 0.05 + 0.04 * k;
            expected[order[k]] += Math.Sign(tau[order[k]]) * magnitude;
        }
        var actual = merged["w"].ToDoubleArray().Concat(merged["b"].ToDoubleArray()).ToArray();
        AssertClose(expected, actual, 1e-12);
    }

    /// <summary>The spec's steps written out plainly, one list per step, for rows of task vectors.</summary>
    static double[] NaivePcb(double[][] tau, double r, double[] lambda, double eps = 1e-4)
    {
        int n = tau.Length, d = tau[0].Length;
        double Normalise(double v, IList<double> row) => (v - row.Min()) / (row.Max() - row.Min());
        var clipped = new List<double[]>();
        var betas = new List<double[]>();
        for (int i = 0; i < n; i++)
        {
            var sortedAbs = tau[i].Select(Math.Abs).OrderBy(v => v).ToList();
            double lo = sortedAbs[(int)Math.Floor(d * eps)], hi = sortedAbs[(int)Math.Floor(d * (1 - eps)) - 1];
            var absClipped = tau[i].Select(v => Math.Min(Math.Max(Math.Abs(v), lo), hi)).ToList();
            clipped.Add(tau[i].Select((v, k) => Math.Sign(v) * absClipped[k]).ToArray());
            betas.Add(Enumerable.Range(0, d).Select(k =>
            {
                double intra = Math.Exp(n * Math.Pow(Normalise(absClipped[k], absClipped), 2));
                double inter = Math.Tanh(tau[i][k] * tau.Sum(t => t[k]));
                return intra * inter;
            }).ToArray());
        }
        var scales = betas.Select(beta =>
        {
            double threshold = beta.OrderBy(v => v).ElementAt((int)Math.Floor(d * (1 - r)));
            var raised = beta.Select(v => Math.Max(v, threshold)).ToList();
            return raised.Select(v => Normalise(v, raised)).ToArray();
        }).ToList();
        return Enumerable.Range(0, d).Select(k =>
            Enumerable.Range(0, n).Sum(i => lambda[i] * clipped[i][k] * scales[i][k]) / Math.Max(scales.Sum(s => s[k]), 1e-12)).ToArray();
    }

    [Fact]
    public void TwoModels_MatchTheSpecStepByStep()
    {
        var b = Dict(("w", Random(3, 6), [2, 3]), ("bias", Random(4, 4), [4]));
        var tau1 = Random(5, 10, 0.3);
        var tau2 = Random(6, 10, 0.3);
        tau2[0] = -tau1[0]; // one entry where the two conflict exactly: Σ τ = 0, so inter-balancing is 0 for both
        var m1 = Plus(b, new() { ["w"] = tau1[..6], ["bias"] = tau1[6..] });
        var m2 = Plus(b, new() { ["w"] = tau2[..6], ["bias"] = tau2[6..] });

        var merged = new PcbMerge(new MergeOptions(Weights: [1.0, 0.7], Density: 0.4)).Merge(b, [m1, m2]);

        var expectedTask = NaivePcb([tau1, tau2], 0.4, [1.0, 0.7]);
        var flatBase = b["w"].ToDoubleArray().Concat(b["bias"].ToDoubleArray()).ToArray();
        var actual = merged["w"].ToDoubleArray().Concat(merged["bias"].ToDoubleArray()).ToArray();
        AssertClose(flatBase.Zip(expectedTask, (x, t) => x + t).ToArray(), actual, 1e-12);
        // Each model keeps the 3 entries above its rank ⌊10·0.6⌋ = 6, so at most 6 entries move.
        Assert.InRange(actual.Zip(flatBase).Count(p => p.First != p.Second), 1, 6);
    }

    [Fact]
    public void Search_PicksTheGridPointTheValidationPrefers()
    {
        var b = Dict(("w", Random(7, 40), [5, 8]));
        var m1 = Plus(b, new() { ["w"] = Random(8, 40, 0.2) });
        var m2 = Plus(b, new() { ["w"] = Random(9, 40, 0.2) });
        // The synthetic validation prefers the model PCB gives at r = 0.3, λ = 1.1: squared distance to it.
        var target = new PcbMerge(new MergeOptions(Weights: [1.1, 1.1], Density: 0.3)).Merge(b, [m1, m2]);
        double Distance(IReadOnlyDictionary<string, Tensor> sd) => sd["w"].ToDoubleArray().Zip(target["w"].ToDoubleArray(), (x, y) => (x - y) * (x - y)).Sum();

        var pcb = new PcbMerge(new MergeOptions(Validate: Distance));
        var merged = pcb.Merge(b, [m1, m2]);

        var search = Assert.IsType<PcbSearchResult>(pcb.LastSearch);
        Assert.Equal((0.3, 1.1), (search.Ratio, search.Lambda));
        Assert.Equal(PcbMerge.DefaultRatioGrid.Count * PcbMerge.DefaultLambdaGrid.Count, search.Trials.Count);
        Assert.True(search.Trials.Count(t => t.Loss > 1e-6) == search.Trials.Count - 1, "every other grid point merges differently");
        AssertClose(target["w"], merged["w"], 1e-12);
    }

    [Fact]
    public void Search_WithDensityGiven_SearchesOnlyLambda()
    {
        var b = Dict(("w", Random(10, 12), [3, 4]));
        var m = Plus(b, new() { ["w"] = Random(11, 12, 0.2) });
        // Validation that prefers the smallest step away from the base: the smallest λ.
        double StepSize(IReadOnlyDictionary<string, Tensor> sd) => sd["w"].ToDoubleArray().Zip(b["w"].ToDoubleArray(), (x, y) => Math.Abs(x - y)).Sum();
        var pcb = new PcbMerge(new MergeOptions(Density: 0.5, Validate: StepSize), lambdaGrid: [1.2, 0.9, 1.0]);
        pcb.Merge(b, [m]);
        Assert.All(pcb.LastSearch!.Trials, t => Assert.Equal(0.5, t.Ratio));
        Assert.Equal([1.2, 0.9, 1.0], pcb.LastSearch.Trials.Select(t => t.Lambda));
        Assert.Equal(0.9, pcb.LastSearch.Lambda);

        pcb = new PcbMerge(new MergeOptions(Density: 0.5));
        pcb.Merge(b, [m]);
        Assert.Null(pcb.LastSearch);
    }

    [Fact]
    public void BadInput_IsNamed()
    {
        var b = Dict(("w", Random(12, 4), [4]));
        var m = Plus(b, new() { ["w"] = Random(13, 4) });
        Assert.Contains("2 weights for 1 models", Assert.Throws<ArgumentException>(() => new PcbMerge(new MergeOptions(Weights: [1.0, 1.0])).Merge(b, [m])).Message);
        Assert.Contains("(0, 1]", Assert.Throws<ArgumentException>(() => new PcbMerge(new MergeOptions(Density: 0))).Message);
        Assert.Contains("(0, 1]", Assert.Throws<ArgumentException>(() => new PcbMerge(ratioGrid: [0.1, 1.5])).Message);
        var nan = new Dictionary<string, Tensor> { ["w"] = Tensor.FromArray(new[] { 1.0, double.NaN, 0, 0 }) };
        var e = Assert.Throws<ArgumentException>(() => new PcbMerge().Merge(b, [m, nan]));
        Assert.Contains("pcb: 'w' of model 1", e.Message);
        var allNan = new PcbMerge(new MergeOptions(Validate: _ => double.NaN), ratioGrid: [0.5], lambdaGrid: [1.0]);
        Assert.Contains("NaN validation loss", Assert.Throws<InvalidOperationException>(() => allNan.Merge(b, [m])).Message);
    }
}
