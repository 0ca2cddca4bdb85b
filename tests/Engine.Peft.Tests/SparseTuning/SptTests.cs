using Engine.Peft.SparseTuning;
using Xunit;
using static Engine.Peft.Tests.TestSupport;
using Approx = Engine.Tests.Shared.Approx;

namespace Engine.Peft.Tests.SparseTuning;

/// <summary>
/// SPT (spec adapters-other.md §6): the sensitivity against squared gradients summed by hand, the allocation's tie rule
/// and sweep against a brute-force restatement, the budget, and the exact merge W0 + B A + scatter(Ω, v).
/// </summary>
public class SptTests
{
    static readonly ModuleSelector Targets = ["qkv", "attn.proj", "mlp.fc", "mlp.proj"];

    static Tensor Batch(int i) => i switch { 0 => Ids(), 1 => Ids().Flip(1), _ => Ids().Roll(2, 1) };

    static CalibrationData Data(Module model, int batches) => new(batches, i => { var y = model.Forward(Batch(i)); return (y * y).Mean(); });

    static SptConfig Config => new() { LowRankDim = 1, Alpha = 10, SensitivityBatchNum = 2, Budget = 120, SweepStep = 6, TargetModules = Targets, Seed = 3 };

    // The targeted Linear layers of a fresh law model, by engine path, in the model's order.
    static List<(string Path, Linear Layer)> Linears(Module model) => model.NamedModules()
        .Where(m => m.Module is Linear && Targets.Any(t => m.Name == t || m.Name.EndsWith("." + t, StringComparison.Ordinal)))
        .Select(m => (m.Name, (Linear)m.Module)).ToList();

    // Σ over the first k batches of (dL/dw)², one batch at a time with plain backward passes.
    static double[][] NaiveSensitivity(Module model, List<(string Path, Linear Layer)> linears, int k)
    {
        var sums = linears.Select(l => new double[l.Layer.Weight.Numel]).ToArray();
        var data = Data(model, k);
        for (int b = 0; b < k; b++)
        {
            foreach (var p in model.Parameters()) p.Grad = null;
            Autograd.Autograd.Backward(data.Loss(b));
            for (int i = 0; i < linears.Count; i++)
            {
                var g = linears[i].Layer.Weight.Grad!.ToDoubleArray();
                for (int j = 0; j < g.Length; j++) sums[i][j] += g[j] * g[j];
            }
        }
        return sums;
    }

    [Fact]
    public void Sensitivity_IsTheSumOfSquaredGradientsOverTheFirstKBatches()
    {
        var model = TinyGpt();
        var linears = Linears(model);
        var fresh = TinyGpt();
        var expected = NaiveSensitivity(fresh, Linears(fresh), 2);
        var actual = WeightGradients.SumOfSquares(model, Data(model, 2), linears.Select(x => x.Layer.Weight).ToList());
        for (int i = 0; i < linears.Count; i++) Approx.AssertClose(expected[i], actual[i].ToDoubleArray(), 1e-15);
        Assert.Contains(expected.SelectMany(s => s), v => v > 0);
    }

    [Fact]
    public void Apply_AllocatesFromTheSensitivityOfTheFirstKBatches_WithinOneSweepStepOfTheBudget()
    {
        var model = TinyGpt();
        var peft = Peft.Apply(model, Config, calibration: Data(model, 3));
        var fresh = TinyGpt();
        var linears = Linears(fresh);
        var sensitivity = NaiveSensitivity(fresh, linears, 2);
        var expected = SptAllocation.Allocate(linears.Select((l, i) => new SptAllocation.Matrix(l.Path, l.Layer.OutFeatures, l.Layer.InFeatures, sensitivity[i])).ToList(), 1, 10, 120, 6);

        var c = (SptConfig)peft.PeftConfigs["default"];
        var structured = linears.Where((_, i) => expected.Choices[i].Structured).Select(l => peft.PathOf(l.Path).External).ToList();
        Assert.Equal(structured, c.StructuredModules);
        Assert.NotEmpty(c.StructuredModules);
        Assert.NotEmpty(c.SparseCounts);
        var layers = peft.AdapterLayers().ToDictionary(l => l.Path, l => (SptLayer)l.Layer);
        for (int i = 0; i < linears.Count; i++)
        {
            var choice = expected.Choices[i];
            if (!choice.Structured && choice.Positions.Length == 0) { Assert.DoesNotContain(linears[i].Path, layers.Keys); continue; }
            var layer = layers[linears[i].Path];
            Assert.Equal(choice.Structured, layer.IsStructured("default"));
            if (!choice.Structured) Assert.Equal(choice.Positions, layer.Positions("default").ToArray<long>());
        }
        long trainable = layers.Values.Sum(l => l.AdapterTensors("default").Where(t => t.Trainable).Sum(t => (long)t.Tensor.Numel));
        Assert.Equal(expected.Total, trainable);
        // Within one sweep step of the budget: between the two sweep totals around it. A step that switches a weight to
        // LoRA jumps by up to r (in + out) (1 − 1/α), more than the step itself, so the bound is that step's change.
        var sweep = expected.Sweep;
        int above = sweep.Count - 1;
        Assert.True(sweep[above].Total >= 120 && (above == 0 || sweep[above - 1].Total < 120));
        long jump = sweep[above].Total - (above == 0 ? 0 : sweep[above - 1].Total);
        Assert.True(2 * Math.Abs(trainable - 120) <= jump, $"{trainable} trainable for a budget of 120, sweep step changing the total by {jump}");
        // With α so small that no weight turns LoRA, every step adds exactly 6: within half a step.
        var second = TinyGpt();
        var all = Peft.Apply(second, Config with { Alpha = 0.01 }, calibration: Data(second, 3));
        long sparse = all.AdapterLayers().Sum(l => l.Layer.AdapterTensors("default").Where(t => t.Trainable).Sum(t => (long)t.Tensor.Numel));
        Assert.True(Math.Abs(sparse - 120) <= 3, $"{sparse} trainable for a budget of 120");
        Assert.Empty(((SptConfig)all.PeftConfigs["default"]).StructuredModules);
        // Starts at the base (B = 0, values 0).
        var x = Ids();
        using (Autograd.Autograd.NoGrad()) Assert.Equal(TinyGpt().Forward(x).ToDoubleArray(), peft.Forward(x).ToDoubleArray());
    }

    [Fact]
    public void Merge_IsW0PlusBAPlusTheScatteredValues_Exactly()
    {
        var model = TinyGpt();
        var peft = Peft.Apply(model, Config, calibration: Data(model, 2));
        ulong seed = 10;
        foreach (var (_, layer) in peft.AdapterLayers())
            foreach (var t in layer.AdapterTensors("default").Where(t => t.Trainable)) Scramble(t.Tensor, seed++);
        var x = Ids();
        AssertMergeRoundTrips(peft, x);
        foreach (var (_, l) in peft.AdapterLayers())
        {
            var layer = (SptLayer)l;
            var w0 = layer.BaseLayer.Weight.ToDoubleArray();
            var expected = (double[])w0.Clone();
            if (layer.IsStructured("default"))
            {
                var ba = NaiveProduct(layer.B("default").ToDoubleArray(), layer.A("default").ToDoubleArray(), layer.OutFeatures, 1, layer.InFeatures);
                for (int i = 0; i < ba.Length; i++) expected[i] += ba[i];
            }
            else
            {
                var positions = layer.Positions("default").ToArray<long>();
                var values = layer.SparseValues("default").ToDoubleArray();
                for (int k = 0; k < positions.Length; k++) expected[positions[k]] += values[k];
                Assert.Equal(positions.Length, layer.DeltaWeight("default").ToDoubleArray().Count(v => v != 0));
            }
            layer.Merge();
            Approx.AssertClose(expected, layer.BaseLayer.Weight.ToDoubleArray(), 1e-6);
            layer.Unmerge();
            Approx.AssertClose(w0, layer.BaseLayer.Weight.ToDoubleArray(), 1e-6);
        }
    }

    [Fact]
    public void Allocation_BreaksTiesByMatrixThenPosition_AndSwitchesToLoraAtROverAlpha()
    {
        // Sensitivity 5 appears at a[1], a[2], a[5] and b[0]; 3 at b[2], b[3]: the rank is a1 a2 a5 b0 b2 b3 a4 a0 a3 b1.
        var a = new SptAllocation.Matrix("a", 2, 3, [1, 5, 5, 0, 2, 5]);
        var b = new SptAllocation.Matrix("b", 2, 2, [5, 0, 3, 3]);
        // α = 0.01: r (in + out) / α is out of reach, everything sparse; budget 5 with step 1 selects the top 5.
        var sparse = SptAllocation.Allocate([a, b], 1, 0.01, 5, 1);
        Assert.Equal(5, sparse.Selected);
        Assert.Equal([1L, 2, 5], sparse.Choices[0].Positions);
        Assert.Equal([0L, 2], sparse.Choices[1].Positions);
        Assert.Equal(5, sparse.Total);
        // The same inputs give the same allocation.
        var again = SptAllocation.Allocate([a with { Sensitivity = [1, 5, 5, 0, 2, 5] }, b], 1, 0.01, 5, 1);
        Assert.Equal(sparse.Choices.Select(c => c.Positions), again.Choices.Select(c => c.Positions));

        // α = 2: a turns LoRA (p = 5) at 3 ≥ 2.5 selected, b (p = 4) at 2 ≥ 2. Totals 1, 2, 5, 6, 9: budget 7 takes 6 (k = 4).
        var mixed = SptAllocation.Allocate([a, b], 1, 2, 7, 1);
        Assert.Equal([(1L, 1L), (2, 2), (3, 5), (4, 6), (5, 9)], mixed.Sweep);
        Assert.Equal(4, mixed.Selected);
        Assert.True(mixed.Choices[0].Structured);
        Assert.Empty(mixed.Choices[0].Positions);
        Assert.False(mixed.Choices[1].Structured);
        Assert.Equal([0L], mixed.Choices[1].Positions);
        Assert.Equal(6, mixed.Total);
        // A tie of distances goes to the later sweep point (the reference's <=): totals 2 and 4 around a budget of 3.
        Assert.Equal(4, SptAllocation.Allocate([a, b], 1, 0.01, 3, 2).Selected);
    }

    [Theory]
    [InlineData(1, 10.0, 300, 7)]
    [InlineData(2, 10.0, 900, 25)]
    [InlineData(1, 3.0, 150, 1)]
    [InlineData(3, 10.0, 20, 4)]
    public void Allocation_TakesTheSweepTotalClosestToTheBudget_AsABruteForceRestatement(int r, double alpha, long budget, long step)
    {
        var rng = new Random(7);
        // Rounded sensitivities make ties common.
        var matrices = new[] { (6, 8), (8, 8), (4, 8), (8, 4) }.Select((s, m) => new SptAllocation.Matrix($"m{m}", s.Item1, s.Item2,
            Enumerable.Range(0, s.Item1 * s.Item2).Select(_ => Math.Round(rng.NextDouble() * 20) * Math.Pow(2, -m % 2)).ToArray())).ToList();
        var result = SptAllocation.Allocate(matrices, r, alpha, budget, step);

        // Brute force: LINQ's stable sort by sensitivity (descending), then by global index; every sweep point.
        var all = matrices.SelectMany((m, i) => m.Sensitivity.Select((s, j) => (S: s, M: i, J: (long)j))).ToList();
        var ranked = all.Select((e, g) => (e.S, e.M, e.J, G: g)).OrderByDescending(e => e.S).ThenBy(e => e.G).ToList();
        long n = ranked.Count;
        long bestK = 0, bestTotal = 0;
        double best = double.PositiveInfinity;
        for (long k = 1; (k - 1) * step < n; k++)
        {
            long take = Math.Min(k * step, n);
            var counts = new long[matrices.Count];
            foreach (var e in ranked.Take((int)take)) counts[e.M]++;
            long total = 0;
            for (int m = 0; m < matrices.Count; m++)
            {
                long p = (long)r * (matrices[m].In + matrices[m].Out);
                total += counts[m] * alpha >= p ? p : counts[m];
            }
            if (Math.Abs(total - budget) <= best) (best, bestK, bestTotal) = (Math.Abs(total - budget), take, total);
        }
        Assert.Equal(bestK, result.Selected);
        Assert.Equal(bestTotal, result.Total);
        var chosen = ranked.Take((int)bestK).ToList();
        for (int m = 0; m < matrices.Count; m++)
        {
            var mine = chosen.Where(e => e.M == m).Select(e => e.J).Order().ToArray();
            long p = (long)r * (matrices[m].In + matrices[m].Out);
            bool structured = mine.Length * alpha >= p;
            Assert.Equal(structured, result.Choices[m].Structured);
            Assert.Equal(structured ? [] : mine, result.Choices[m].Positions);
        }
    }

    [Fact]
    public void Config_RejectsBadFields_AndAFreshAdapterNeedsData()
    {
        Assert.Throws<ArgumentException>(() => new SptConfig { StructuredType = "adapter" }.Validate());
        Assert.Throws<ArgumentException>(() => new SptConfig { Budget = 0 }.Validate());
        Assert.Throws<ArgumentException>(() => new SptConfig { StructuredModules = ["x"], SparseCounts = new Dictionary<string, int> { ["x"] = 3 } }.Validate());
        var e = Assert.Throws<ArgumentException>(() => Peft.Apply(TinyGpt(), Config));
        Assert.Contains("CalibrationData", e.Message);
    }
}
