using Engine.Peft.Sparse;
using Xunit;
using static Engine.Peft.Tests.TestSupport;

namespace Engine.Peft.Tests.Sparse;

/// <summary>PST: the cubic sparsity schedule, the density it gives after each Trainer step, the straight-through mask and the merge to M ⊙ W′.</summary>
public class PstTests
{
    // AliceMind's schedule_sparsity_ratio, written out as the reference writes it (fractions of T, its own association).
    static double Reference(int step, int total, double wi, double wf, double si, double sf)
    {
        if (step <= wi * total) return si;
        if (step > total - wf * total) return sf;
        double mul = 1 - (step - wi * total) / (total - (wf + wi) * total);
        return sf + (si - sf) * Math.Pow(mul, 3);
    }

    [Fact]
    public void Schedule_MatchesTheReferenceFormula()
    {
        var c = new PstConfig { TotalStep = 37, InitialWarmup = 0.1, FinalWarmup = 0.3, InitialSparsity = 0.05, Sparsity = 0.9 };
        for (int t = 0; t <= 40; t++)
            Assert.Equal(Reference(t, 37, 0.1, 0.3, 0.05, 0.9), c.Schedule!.Value.At(t), 12);
        Assert.Null((c with { TotalStep = null }).Schedule);
    }

    [Fact]
    public void Density_AfterEachTrainerStep_IsOneMinusTheScheduledSparsity()
    {
        var config = new PstConfig { WeightRank = 2, MaskRank = 2, TotalStep = 10, InitialWarmup = 0.2, FinalWarmup = 0.2, Sparsity = 0.7, TargetModules = ["qkv", "mlp.fc"], Seed = 3 };
        var peft = Peft.Apply(TinyGpt(), config);
        var layers = peft.AdapterLayers().Select(l => (PstLayer)l.Layer).ToList();
        Assert.Equal(4, layers.Count);
        var ids = Ids();
        int step = 0;
        var densities = new List<(int Step, double Density, long Numel)>();
        new Trainer(peft, new AdamW(peft.TrainableParameters(), 1e-2), new TrainerOptions(10)).Run(_ =>
        {
            // Before step i's forward the hook of step i - 1 has set s_i (s_0 = s_i at the start).
            foreach (var layer in layers)
            {
                Tensor w;
                using (Autograd.Autograd.NoGrad()) w = layer.Transform("default", layer.BaseLayer.Weight, null).Weight;
                var values = w.ToDoubleArray();
                densities.Add((step, values.Count(v => v != 0) / (double)values.Length, values.Length));
            }
            step++;
            return Losses.CrossEntropy(peft.Forward(ids.Narrow(1, 0, 4)), ids.Narrow(1, 1, 4));
        });
        foreach (var (t, density, numel) in densities)
            Assert.True(Math.Abs(density - (1 - Reference(t, 10, 0.2, 0.2, 0, 0.7))) <= 1.0 / numel + 1e-12, $"step {t}: density {density}");
        // After the run's last step the mask is at s_f.
        foreach (var layer in layers)
            Assert.Equal(layer.PrunedAt(0.7), layer.PrunedCount("default"));
        Assert.Contains(densities, d => d.Density < 0.99 && d.Density > 0.31);
    }

    [Fact]
    public void Mask_PrunesTheLowestScores_AndItsGradientIsTheIdentity()
    {
        var scores = Randn64(4, 5, 6);
        scores.RequiresGrad = true;
        var mask = new PstMask(11).Apply(scores);
        var s = scores.ToDoubleArray();
        var threshold = s.Order().ElementAt(10);
        var m = mask.ToDoubleArray();
        for (int i = 0; i < s.Length; i++) Assert.Equal(s[i] <= threshold ? 0.0 : 1.0, m[i]);
        var upstream = Randn64(5, 5, 6);
        (mask * upstream).Sum().Backward();
        Assert.Equal(upstream.ToDoubleArray(), scores.Grad!.ToDoubleArray());
    }

    [Fact]
    public void Forward_AndMerge_AreTheMaskedUpdatedWeight()
    {
        const int inF = 7, outF = 5;
        var config = new PstConfig { WeightRank = 2, MaskRank = 3, WeightBeta = 0.5, MaskAlpha1 = 0.7, MaskAlpha2 = 2, InitialSparsity = 0.4 };
        var layer = StandaloneLayer(l => new PstLayer(l), inF, outF, config);
        ulong seed = 20;
        foreach (var t in layer.AdapterTensors("a").Where(t => t.Trainable)) Scramble(t.Tensor, seed++);
        long pruned = (long)Math.Floor(inF * outF * 0.4);
        Assert.Equal(pruned, layer.PrunedCount("a"));
        // Naive reference: W′ = W0 + β U V, S = |W′| + α1 A B + α2 (R_i + C_j), zero the `pruned` lowest.
        double[] w0 = layer.BaseLayer.Weight.ToDoubleArray(), u = P("weight_U"), v = P("weight_V"), a = P("mask_scores_A"), b = P("mask_scores_B"), r = P("mask_scores_R"), c = P("mask_scores_C");
        double[] P(string key) => layer.AdapterTensors("a").Single(t => t.Key == key).Tensor.ToDoubleArray();
        var updated = new double[outF * inF];
        var score = new double[outF * inF];
        for (int i = 0; i < outF; i++)
            for (int j = 0; j < inF; j++)
            {
                double uv = 0, ab = 0;
                for (int k = 0; k < 2; k++) uv += u[i * 2 + k] * v[k * inF + j];
                for (int k = 0; k < 3; k++) ab += a[i * 3 + k] * b[k * inF + j];
                updated[i * inF + j] = w0[i * inF + j] + 0.5 * uv;
                score[i * inF + j] = Math.Abs(updated[i * inF + j]) + 0.7 * ab + 2 * (r[i] + c[j]);
            }
        var lowest = Enumerable.Range(0, score.Length).OrderBy(i => score[i]).Take((int)pruned).ToHashSet();
        var expected = updated.Select((x, i) => lowest.Contains(i) ? 0 : x).ToArray();

        var x = Randn64(6, 3, inF);
        var y = layer.Forward(x).ToDoubleArray();
        var bias = layer.BaseLayer.Bias!.ToDoubleArray();
        var naive = NaiveMatMulT(x.ToDoubleArray(), 3, expected, inF, outF).Select((v, i) => v + bias[i % outF]).ToArray();
        AssertClose(naive, y, 1e-12);

        var before = layer.BaseLayer.Weight.ToDoubleArray();
        layer.Merge();
        AssertClose(expected, layer.BaseLayer.Weight.ToDoubleArray(), 1e-12);
        Assert.Equal(pruned, layer.BaseLayer.Weight.ToDoubleArray().Count(e => e == 0));
        AssertClose(y, layer.Forward(x).ToDoubleArray(), 1e-12);
        layer.Unmerge();
        Assert.Equal(before, layer.BaseLayer.Weight.ToDoubleArray());
    }

    [Fact]
    public void Config_UsesTheReferenceFieldNames_AndRejectsBadValues()
    {
        var json = PeftConfigJson.ToJson(new PstConfig { TotalStep = 5 }).ToJsonString();
        foreach (var field in new[] { "\"weight_rank\"", "\"weight_beta\"", "\"mask_rank\"", "\"mask_alpha1\"", "\"mask_alpha2\"", "\"sparsity\"", "\"initial_sparsity\"", "\"initial_warmup\"", "\"final_warmup\"", "\"total_step\"", "\"PST\"" })
            Assert.Contains(field, json);
        Assert.Throws<ArgumentException>(() => new PstConfig { Sparsity = 1.5 }.Validate());
        Assert.Throws<ArgumentException>(() => new PstConfig { InitialWarmup = 0.6, FinalWarmup = 0.5 }.Validate());
        Assert.Throws<ArgumentException>(() => new PstConfig { WeightRank = 0 }.Validate());
    }
}
