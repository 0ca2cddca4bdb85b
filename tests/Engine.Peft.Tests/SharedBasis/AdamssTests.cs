using Engine.Peft.SharedBasis;
using Xunit;
using static Engine.Peft.Tests.TestSupport;

namespace Engine.Peft.Tests.SharedBasis;

/// <summary>
/// AdaMSS's structure (Zheng et al. 2025): newB spans the top-R right singular subspace of [W | b] with orthonormal
/// rows; the clusters partition the output rows; subspace i's factors move only its own rows, by a matrix of rank at
/// most r_i inside the row space of A_i newB; and the layer's output is x Wᵀ + b + [ΔW | Δb][x, 1] with the rows
/// built here by loops.
/// </summary>
public class AdamssTests
{
    static PeftModel<Gpt> Adapted(bool scramble, int rank = 2, bool dynamic = false)
    {
        var model = TinyGpt(layers: 2);
        model.To(DType.Float64);
        var peft = Peft.Apply(model, new AdamssConfig
        {
            R = 5, NumSubspaces = 3, SubspaceRank = rank, UseDynamicRank = dynamic, TargetModules = ["qkv", "mlp.proj"], RandomSeed = 7,
        });
        ulong seed = 90;
        if (scramble) foreach (var p in peft.TrainableParameters()) Scramble(p, seed++, 0.3);
        return peft;
    }

    static AdamssLayer Layer(PeftModel peft, string path) => (AdamssLayer)peft.AdapterLayers().First(l => l.Path == path).Layer;

    static double[,] Matrix(Tensor t)
    {
        var v = t.Contiguous().ToDoubleArray();
        int r = t.Size(0), c = t.Size(1);
        var m = new double[r, c];
        for (int i = 0; i < r; i++) for (int j = 0; j < c; j++) m[i, j] = v[i * c + j];
        return m;
    }

    static double[,] Augmented(AdamssLayer layer)
    {
        var w = Matrix(layer.BaseLayer.Weight);
        var b = layer.BaseLayer.Bias!.ToDoubleArray();
        int o = w.GetLength(0), n = w.GetLength(1);
        var x = new double[o, n + 1];
        for (int i = 0; i < o; i++) { for (int j = 0; j < n; j++) x[i, j] = w[i, j]; x[i, n] = b[i]; }
        return x;
    }

    [Fact]
    public void NewB_HasOrthonormalRows_SpanningTheTopSingularSubspaceOfWeightAndBias()
    {
        var peft = Adapted(scramble: false);
        foreach (var path in new[] { "blocks.0.attn.qkv", "blocks.1.mlp.proj" })
        {
            var layer = Layer(peft, path);
            var nb = Matrix(layer.NewB("default"));
            int r = nb.GetLength(0), c = nb.GetLength(1);
            Assert.Equal(5, r);
            Assert.Equal(layer.InFeatures + 1, c);
            for (int i = 0; i < r; i++)
                for (int j = 0; j < r; j++)
                    Assert.Equal(i == j ? 1.0 : 0.0, Enumerable.Range(0, c).Sum(k => nb[i, k] * nb[j, k]), 9);
            // ‖X newBᵀ‖² = the sum of the R largest σ² of X (the eigenvalues of XᵀX, found here by the power method with deflation).
            var x = Augmented(layer);
            int o = x.GetLength(0);
            double captured = 0;
            for (int i = 0; i < o; i++)
                for (int k = 0; k < r; k++) { double s = 0; for (int j = 0; j < c; j++) s += x[i, j] * nb[k, j]; captured += s * s; }
            Assert.Equal(TopEigenvalueSum(x, r), captured, 6);
        }
    }

    // Sum of the k largest eigenvalues of XᵀX by power iteration with deflation (independent of the engine's SVD).
    static double TopEigenvalueSum(double[,] x, int k)
    {
        int o = x.GetLength(0), c = x.GetLength(1);
        var g = new double[c, c];
        for (int i = 0; i < c; i++) for (int j = 0; j < c; j++) for (int t = 0; t < o; t++) g[i, j] += x[t, i] * x[t, j];
        double total = 0;
        var rng = new Random(3);
        for (int e = 0; e < k; e++)
        {
            var v = Enumerable.Range(0, c).Select(_ => rng.NextDouble() - 0.5).ToArray();
            double lambda = 0;
            for (int it = 0; it < 5000; it++)
            {
                var w = new double[c];
                for (int i = 0; i < c; i++) for (int j = 0; j < c; j++) w[i] += g[i, j] * v[j];
                double norm = Math.Sqrt(w.Sum(z => z * z));
                lambda = norm;
                v = w.Select(z => z / norm).ToArray();
            }
            total += lambda;
            for (int i = 0; i < c; i++) for (int j = 0; j < c; j++) g[i, j] -= lambda * v[i] * v[j];
        }
        return total;
    }

    [Fact]
    public void Clusters_PartitionTheRows_AndEachSubspaceMovesOnlyItsRows_ByAtMostItsRank()
    {
        // A_i starts with orthonormal rows (the top right singular vectors of the cluster's rows of U).
        var fresh = Layer(Adapted(scramble: false), "blocks.0.attn.qkv");
        for (int i = 0; i < fresh.SubspaceCount("default"); i++)
        {
            var a = Matrix(fresh.A("default", i));
            for (int p = 0; p < a.GetLength(0); p++)
                for (int q = 0; q < a.GetLength(0); q++)
                    Assert.Equal(p == q ? 1.0 : 0.0, Enumerable.Range(0, a.GetLength(1)).Sum(j => a[p, j] * a[q, j]), 9);
        }
        var peft = Adapted(scramble: true);
        var layer = Layer(peft, "blocks.0.attn.qkv");
        var labels = layer.Assignment("default").ToArray<long>();
        int k = layer.SubspaceCount("default");
        Assert.Equal(3, k);
        Assert.Equal(layer.OutFeatures, labels.Length);
        for (int i = 0; i < k; i++)
        {
            Assert.Equal(labels.Count(l => l == i), layer.B("default", i).Size(0));
            Assert.Equal(Math.Min(2, labels.Count(l => l == i)), layer.A("default", i).Size(0));
        }
        Assert.All(labels, l => Assert.InRange(l, 0, k - 1));

        // Changing B_1 alone changes exactly the rows of cluster 1; the change of those rows has rank at most r_1.
        var before = Matrix(layer.DeltaAugmented("default"));
        using (Autograd.Autograd.NoGrad()) layer.B("default", 1).CopyFrom(layer.B("default", 1) + 1.0);
        var after = Matrix(layer.DeltaAugmented("default"));
        var changed = new List<double[]>();
        for (int row = 0; row < labels.Length; row++)
        {
            var diff = Enumerable.Range(0, after.GetLength(1)).Select(j => after[row, j] - before[row, j]).ToArray();
            if (labels[row] == 1) { Assert.True(diff.Any(d => Math.Abs(d) > 1e-9), $"row {row} of cluster 1 did not move"); changed.Add(diff); }
            else Assert.All(diff, d => Assert.Equal(0.0, d, 12));
        }
        Assert.True(NumericalRank(changed) <= layer.A("default", 1).Size(0));
        // Every changed row lies in the row space of A_1 newB: adding its rows does not raise the rank.
        var basis = Matrix(layer.A("default", 1).MatMul(layer.NewB("default")));
        var span = Enumerable.Range(0, basis.GetLength(0)).Select(p => Enumerable.Range(0, basis.GetLength(1)).Select(j => basis[p, j]).ToArray()).ToList();
        Assert.Equal(NumericalRank(span), NumericalRank(span.Concat(changed).ToList()));
    }

    // Rank by Gram–Schmidt with a relative tolerance.
    static int NumericalRank(List<double[]> rows)
    {
        var basis = new List<double[]>();
        double scale = rows.Max(r => Math.Sqrt(r.Sum(z => z * z)));
        foreach (var r in rows)
        {
            var v = (double[])r.Clone();
            foreach (var q in basis) { double s = v.Zip(q, (a, b) => a * b).Sum(); for (int j = 0; j < v.Length; j++) v[j] -= s * q[j]; }
            double n = Math.Sqrt(v.Sum(z => z * z));
            if (n > 1e-8 * scale) basis.Add(v.Select(z => z / n).ToArray());
        }
        return basis.Count;
    }

    [Fact]
    public void Output_IsTheBasePlusTheClusteredRowsTimesTheAugmentedInput_ByLoops()
    {
        var peft = Adapted(scramble: true);
        var layer = Layer(peft, "blocks.1.mlp.proj");
        var labels = layer.Assignment("default").ToArray<long>();
        var nb = Matrix(layer.NewB("default"));
        int o = layer.OutFeatures, n = layer.InFeatures, r = nb.GetLength(0);
        // [ΔW | Δb] row j = B_i[pos] A_i newB, pos = j's place among its cluster's rows.
        var delta = new double[o, n + 1];
        var seen = new int[layer.SubspaceCount("default")];
        for (int j = 0; j < o; j++)
        {
            int i = (int)labels[j], pos = seen[i]++;
            var a = Matrix(layer.A("default", i));
            var b = Matrix(layer.B("default", i));
            for (int c = 0; c < n + 1; c++)
                for (int t = 0; t < a.GetLength(0); t++)
                    for (int q = 0; q < r; q++)
                        delta[j, c] += b[pos, t] * a[t, q] * nb[q, c];
        }
        var x = Tensor.Randn([3, n], 0, 1, DType.Float64, new Generator(5));
        var y = Matrix(layer.Forward(x));
        var xs = Matrix(x);
        var w = Augmented(layer);
        for (int s = 0; s < 3; s++)
            for (int j = 0; j < o; j++)
            {
                double expected = w[j, n] + delta[j, n];
                for (int c = 0; c < n; c++) expected += xs[s, c] * (w[j, c] + delta[j, c]);
                Assert.Equal(expected, y[s, j], 9);
            }
    }

    [Fact]
    public void KMeans_RecoversWellSeparatedClusters_NumberedByFirstRow()
    {
        // Rows 0, 4, 5 near (10, 0); rows 1, 3 near (0, 10); row 2 near (−10, −10).
        var x = new double[] { 10, 0.1, 0, 10, -10, -10, 0.2, 10.1, 9.9, -0.1, 10.2, 0 };
        var labels = AdamssSubspaces.KMeans(x, 6, 2, 3, 10, new Generator(1));
        Assert.Equal([0, 1, 2, 1, 0, 0], labels);
    }

    [Fact]
    public void AsaSchedule_FallsCubicallyFromAllSubspacesToTheTarget()
    {
        var c = new AdamssConfig { UseAsa = true, AsaTargetSubspaces = 10, InitWarmup = 50, FinalWarmup = 1050 };
        Assert.Null(AdamssAllocation.Target(49, c, 90));
        Assert.Equal(90, AdamssAllocation.Target(50, c, 90));
        Assert.Equal(20, AdamssAllocation.Target(550, c, 90));  // 10 + 80 · 0.5³
        Assert.Equal(10, AdamssAllocation.Target(1050, c, 90));
        Assert.Equal(10, AdamssAllocation.Target(5000, c, 90));
    }

    [Fact]
    public void Asa_KeepsTheSubspacesScoringAboveTheTargetThBest_AndFreezesTheRest()
    {
        var model = TinyGpt(layers: 2);
        model.To(DType.Float64);
        // 2 layers × 3 subspaces; at step 2 of [0, 4]: target = ⌊2 + (6 − 2)(1 − 2/4)³⌋ = 2, so the two best stay
        // candidates and, the comparison being strict as in PEFT, only the best keeps training.
        var peft = Peft.Apply(model, new AdamssConfig
        {
            R = 5, NumSubspaces = 3, SubspaceRank = 2, TargetModules = ["qkv"], RandomSeed = 7,
            UseAsa = true, AsaTargetSubspaces = 2, InitWarmup = 0, FinalWarmup = 4, MaskInterval = 2,
        });
        ulong seed = 90;
        foreach (var p in peft.TrainableParameters()) Scramble(p, seed++, 0.3);
        var layers = new[] { Layer(peft, "blocks.0.attn.qkv"), Layer(peft, "blocks.1.attn.qkv") };
        // Gradient g = s on every entry: the score is (1 − β)² s² (mean p_A² + mean p_B²) after one update.
        var scale = new Dictionary<(int, int), double> { [(0, 0)] = 1, [(0, 1)] = 2, [(0, 2)] = 1, [(1, 0)] = 50, [(1, 1)] = 1, [(1, 2)] = 30 };
        var expected = new Dictionary<(int, int), double>();
        foreach (var ((l, i), sc) in scale)
        {
            double score = 0;
            foreach (var p in new[] { layers[l].A("default", i), layers[l].B("default", i) })
            {
                p.Grad = Tensor.Full(p.Shape, sc, DType.Float64);
                var v = p.ToDoubleArray();
                score += v.Average(x => 0.15 * 0.15 * sc * sc * x * x);
            }
            expected[(l, i)] = score;
        }
        peft.OnStep(2);
        var best = expected.MaxBy(e => e.Value).Key;
        foreach (var (l, i) in scale.Keys)
            foreach (var p in new[] { layers[l].A("default", i), layers[l].B("default", i) })
            {
                Assert.Equal((l, i) == best, p.RequiresGrad);
                Assert.Equal((l, i) == best, p.Grad is not null);
            }
        Assert.Equal(2, ((AdamssAllocation)peft.ModelPart("default")!).LastTarget);
    }

    [Fact]
    public void Asa_DoesNothingWithoutUseAsa()
    {
        var peft = Adapted(scramble: true);
        foreach (var p in peft.TrainableParameters().ToList()) p.Grad = p.ZerosLike() + 1;
        int before = peft.TrainableParameters().Count();
        peft.OnStep(100);
        Assert.Equal(before, peft.TrainableParameters().Count());
    }

    [Fact]
    public void DynamicRank_KeepsAtMostSubspaceRank_AndAtLeastOne()
    {
        var peft = Adapted(scramble: false, rank: 3, dynamic: true);
        var layer = Layer(peft, "blocks.0.attn.qkv");
        for (int i = 0; i < layer.SubspaceCount("default"); i++)
            Assert.InRange(layer.A("default", i).Size(0), 1, 3);
    }
}
