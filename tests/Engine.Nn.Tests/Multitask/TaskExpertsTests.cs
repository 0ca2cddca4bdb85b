using Xunit;
using static Engine.Nn.Tests.TestSupport;

namespace Engine.Nn.Tests.Multitask;

/// <summary>
/// The multi-task bottoms of spec seeds-remaining.md §7 (APEM, DTRN, OFVL-MS's sharing gate) and the MMoE top, against
/// loops written here and the spec's oracles.
/// </summary>
public class TaskExpertsTests
{
    static Tensor Fields(ulong seed, int b = 3, int f = 4, int d = 6) => Randn64(seed, b, f, d);

    [Theory]
    [InlineData(FieldSqueeze.MeanPerField)]
    [InlineData(FieldSqueeze.Concatenate)]
    public void SqueezeExcitation_WithZeroSecondLayer_WeighsEveryFieldOneHalf(FieldSqueeze squeeze)
    {
        var se = (FieldSqueezeExcitation)new FieldSqueezeExcitation(4, 6, 3, squeeze, new Generator(1)).To(DType.Float64);
        using (Autograd.Autograd.NoGrad())
        {
            se.Excite.Weight.CopyFrom(Tensor.Zeros(se.Excite.Weight.Shape, DType.Float64));
            se.Excite.Bias!.CopyFrom(Tensor.Zeros(se.Excite.Bias!.Shape, DType.Float64));
        }
        var e = Fields(2);
        Assert.All(se.Weights(e).ToDoubleArray(), w => Assert.Equal(0.5, w));
        AssertClose((e * 0.5).ToDoubleArray(), se.Forward(e).ToDoubleArray(), 0);
    }

    [Fact]
    public void SqueezeExcitation_MeanPerField_MatchesLoops()
    {
        var se = (FieldSqueezeExcitation)new FieldSqueezeExcitation(4, 6, 3, FieldSqueeze.MeanPerField, new Generator(3)).To(DType.Float64);
        var e = Fields(4);
        var x = e.ToDoubleArray();
        var named = se.NamedParameters().ToDictionary(p => p.Name, p => p.Parameter.ToDoubleArray());
        var w = se.Weights(e).ToDoubleArray();
        for (int b = 0; b < 3; b++)
        {
            var z = Enumerable.Range(0, 4).Select(f => Enumerable.Range(0, 6).Average(k => x[(b * 4 + f) * 6 + k])).ToArray();
            var h = Enumerable.Range(0, 3).Select(j => Math.Max(0, named["squeeze.bias"][j] + Enumerable.Range(0, 4).Sum(f => named["squeeze.weight"][j * 4 + f] * z[f]))).ToArray();
            for (int f = 0; f < 4; f++)
            {
                double a = named["excite.bias"][f] + Enumerable.Range(0, 3).Sum(j => named["excite.weight"][f * 3 + j] * h[j]);
                Assert.Equal(1 / (1 + Math.Exp(-a)), w[b * 4 + f], 12);
            }
        }
    }

    [Fact]
    public void PatternSelector_IsEachTasksSoftmaxOverFields()
    {
        var selector = (PatternSelector)new PatternSelector(2, 6, new Generator(5)).To(DType.Float64);
        var e = Fields(6);
        var x = e.ToDoubleArray();
        var tau = selector.TaskIndicators.ToDoubleArray();
        var z = selector.Forward(e).ToDoubleArray();
        for (int b = 0; b < 3; b++)
            for (int t = 0; t < 2; t++)
            {
                var logits = Enumerable.Range(0, 4).Select(f => Enumerable.Range(0, 6).Sum(k => x[(b * 4 + f) * 6 + k] * tau[t * 6 + k]) / Math.Sqrt(6)).ToArray();
                double max = logits.Max(), sum = logits.Sum(l => Math.Exp(l - max));
                for (int k = 0; k < 6; k++)
                    Assert.Equal(Enumerable.Range(0, 4).Sum(f => Math.Exp(logits[f] - max) / sum * x[(b * 4 + f) * 6 + k]), z[(b * 2 + t) * 6 + k], 12);
            }
    }

    [Fact]
    public void Apem_WithOneField_IsAttentionFree_AndTheSameForEveryTask()
    {
        // One field: the attention has a single key, so its query and key weights cannot matter, and each task's
        // selector has one field to pick: APEM reduces to an MLP on that field (spec §7's oracle).
        var apem = (ApemBottom)new ApemBottom(fields: 1, dim: 6, heads: 2, tasks: 3, new Generator(7)).To(DType.Float64);
        var e = Fields(8, f: 1);
        var before = apem.Forward(e).ToDoubleArray();
        var attention = (MultiHeadAttention)apem.NamedModules().First(m => m.Name == "attention").Module;
        using (Autograd.Autograd.NoGrad())
        {
            // Scramble the query and key rows of the fused projection (the first 2·6 output rows).
            var w = attention.Qkv.Weight;
            w.CopyFrom(Tensor.Concat([Randn64(9, 12, 6) * 3, w.Detach().Narrow(0, 12, 6)], 0));
        }
        var after = apem.Forward(e);
        AssertClose(before, after.ToDoubleArray(), 1e-12);
        for (int t = 1; t < 3; t++) AssertClose(after.Select(1, 0).ToDoubleArray(), after.Select(1, t).ToDoubleArray(), 0);
    }

    [Fact]
    public void Dtrn_WithEqualTaskEmbeddingsAndSenets_GivesIdenticalBottoms_AndDifferentOnesOtherwise()
    {
        var dtrn = (DtrnBottom)new DtrnBottom(fields: 3, behaviours: 2, dim: 6, tasks: 2, new Generator(10)).To(DType.Float64);
        var e = Fields(11, f: 3);
        var sequences = new List<(Tensor, Tensor?)> { (Randn64(12, 3, 5, 6), null), (Randn64(13, 3, 4, 6), Tensor.FromArray(new bool[,] { { false, false, true, true }, { false, true, true, true }, { false, false, false, false } })) };
        var differs = dtrn.Forward(e, sequences);
        Assert.Equal([3, 2, 30], differs.Shape);
        Assert.True(differs.Select(1, 0).Sub(differs.Select(1, 1)).Abs().Max().Item() > 1e-3);
        using (Autograd.Autograd.NoGrad())
        {
            dtrn.Interests!.TaskEmbeddings.CopyFrom(dtrn.Interests.TaskEmbeddings.Detach().Narrow(0, 0, 1).Expand(2, dtrn.Interests.TaskEmbeddings.Size(1)).Contiguous());
            foreach (var (name, p) in dtrn.Senet(1).NamedParameters()) p.CopyFrom(dtrn.Senet(0).NamedParameters().First(q => q.Name == name).Parameter);
        }
        var same = dtrn.Forward(e, sequences);
        AssertClose(same.Select(1, 0).ToDoubleArray(), same.Select(1, 1).ToDoubleArray(), 0);
    }

    [Fact]
    public void HyperAttentionPooling_IgnoresPadding_AndMatchesLoops()
    {
        var pooling = (HyperAttentionPooling)new HyperAttentionPooling(2, 1, 4, new Generator(14)).To(DType.Float64);
        var s = Randn64(15, 2, 3, 4);
        var padding = Tensor.FromArray(new bool[,] { { false, false, true }, { false, false, false } });
        var pooled = pooling.Pool(s, padding, task: 1, behaviour: 0).ToDoubleArray();
        var q = pooling.Query(1, 0).ToDoubleArray();
        var x = s.ToDoubleArray();
        for (int b = 0; b < 2; b++)
        {
            int length = b == 0 ? 2 : 3;
            var scores = Enumerable.Range(0, length).Select(l => Enumerable.Range(0, 4).Sum(k => x[(b * 3 + l) * 4 + k] * q[k]) / 2.0).ToArray();
            double max = scores.Max(), sum = scores.Sum(v => Math.Exp(v - max));
            for (int k = 0; k < 4; k++)
                Assert.Equal(Enumerable.Range(0, length).Sum(l => Math.Exp(scores[l] - max) / sum * x[(b * 3 + l) * 4 + k]), pooled[b * 4 + k], 12);
        }
        Assert.Throws<ArgumentOutOfRangeException>(() => pooling.Query(2, 0));
    }

    [Fact]
    public void MultiGateMixture_IsTheGatedSumOfTheExperts()
    {
        var mmoe = (MultiGateMixture)new MultiGateMixture(dim: 5, hidden: 7, experts: 3, tasks: 2, new Generator(16)).To(DType.Float64);
        var x = Randn64(17, 4, 5);
        var y = mmoe.Forward(x);
        var experts = mmoe.NamedModules().Where(m => m.Name.StartsWith("experts.") && m.Name.Count(c => c == '.') == 1).Select(m => m.Module.Forward(x).ToDoubleArray()).ToList();
        for (int t = 0; t < 2; t++)
        {
            var g = mmoe.Gate(x, t).ToDoubleArray();
            var expected = new double[4 * 5];
            for (int b = 0; b < 4; b++)
                for (int e = 0; e < 3; e++)
                    for (int k = 0; k < 5; k++) expected[b * 5 + k] += g[b * 3 + e] * experts[e][b * 5 + k];
            AssertClose(expected, y.Select(1, t).ToDoubleArray(), 1e-12);
        }
        // Per-task inputs: task t reads its own slice.
        var perTask = Randn64(18, 4, 2, 5);
        AssertClose(mmoe.Forward(perTask.Select(1, 1)).Select(1, 1).ToDoubleArray(), mmoe.Forward(perTask).Select(1, 1).ToDoubleArray(), 1e-12);
        Assert.Throws<ArgumentException>(() => mmoe.Forward(Randn64(1, 4, 3, 5)));
    }

    [Fact]
    public void TaskGatedLinear_AllGatesClosed_IsHardSharing_AllOpen_IsSeparateModels()
    {
        var layer = (TaskGatedLinear)new TaskGatedLinear(5, 3, tasks: 2, new Generator(19)).To(DType.Float64);
        using (Autograd.Autograd.NoGrad())
            foreach (int t in new[] { 0, 1 })
            {
                layer.Task(t).Weight.CopyFrom(Randn64(20 + (ulong)t, 3, 5));
                layer.Task(t).Bias!.CopyFrom(Randn64(30 + (ulong)t, 3));
            }
        var x = Randn64(21, 4, 5);
        using (Autograd.Autograd.NoGrad()) layer.Scores.CopyFrom(Tensor.FromArray(new[] { -4.0, -0.1 }));
        foreach (int t in new[] { 0, 1 }) AssertClose(layer.Shared.Forward(x).ToDoubleArray(), layer.Forward(x, t).ToDoubleArray(), 1e-12);
        using (Autograd.Autograd.NoGrad()) layer.Scores.CopyFrom(Tensor.FromArray(new[] { 0.1, 4.0 }));
        foreach (int t in new[] { 0, 1 }) AssertClose(layer.Task(t).Forward(x).ToDoubleArray(), layer.Forward(x, t).ToDoubleArray(), 1e-12);
        Assert.True(layer.UsesOwnWeight(0));
    }

    [Fact]
    public void TaskGatedLinear_StraightThrough_GivesTheScoreTheGradientOfTheSoftGate()
    {
        // dL/ds = σ'(s) · (⟨dL/dW', W_t − W_sh⟩ + ⟨dL/db', b_t − b_sh⟩), with dL/dW' = gᵀ x for L = Σ y ⊙ v.
        var layer = (TaskGatedLinear)new TaskGatedLinear(4, 3, tasks: 1, new Generator(22)).To(DType.Float64);
        using (Autograd.Autograd.NoGrad())
        {
            layer.Task(0).Weight.CopyFrom(Randn64(23, 3, 4));
            layer.Scores.CopyFrom(Tensor.FromArray(new[] { 0.7 }));
        }
        var x = Randn64(24, 5, 4);
        var v = Randn64(25, 5, 3);
        Autograd.Autograd.Backward((layer.Forward(x, 0) * v).Sum());
        var xs = x.ToDoubleArray();
        var vs = v.ToDoubleArray();
        var dw = layer.Task(0).Weight.ToDoubleArray().Zip(layer.Shared.Weight.ToDoubleArray(), (a, b) => a - b).ToArray();
        var db = layer.Task(0).Bias!.ToDoubleArray().Zip(layer.Shared.Bias!.ToDoubleArray(), (a, b) => a - b).ToArray();
        double inner = 0;
        for (int n = 0; n < 5; n++)
            for (int o = 0; o < 3; o++)
            {
                inner += vs[n * 3 + o] * db[o];
                for (int i = 0; i < 4; i++) inner += vs[n * 3 + o] * xs[n * 4 + i] * dw[o * 4 + i];
            }
        double sigma = 1 / (1 + Math.Exp(-0.7));
        Assert.Equal(sigma * (1 - sigma) * inner, layer.Scores.Grad!.Item(), 10);
        Assert.Equal(sigma, layer.SharingPenalty().Item(), 12);
    }

    [Fact]
    public void SharedGradientNormalization_GivesEveryTaskTheMeanNorm()
    {
        var combined = SharedGradientNormalization.Combine([
            [Tensor.FromArray(new[] { 3.0, 4.0 })],
            [Tensor.FromArray(new[] { 0.0, 1.0 })],
            [Tensor.FromArray(new[] { 0.0, 0.0 })]]);
        // Norms 5, 1, 0; mean 2: 3·(2/5)... = (1.2, 1.6) + (0, 2) + nothing.
        AssertClose([1.2, 3.6], combined[0].ToDoubleArray(), 1e-12);
        Assert.Throws<ArgumentException>(() => SharedGradientNormalization.Combine([[Tensor.Zeros([2])], [Tensor.Zeros([3])]]));
    }

    [Fact]
    public void Modules_PassGradCheck_InFloat64()
    {
        var apem = (ApemBottom)new ApemBottom(3, 4, 2, 2, new Generator(26)).To(DType.Float64);
        AssertInputGradients(x => apem.Forward(x[0]), Randn64(27, 2, 3, 4));
        AssertParameterGradients(apem, () => apem.Forward(Randn64(27, 2, 3, 4)).Square().Sum());
        var dtrn = (DtrnBottom)new DtrnBottom(2, 1, 4, 2, new Generator(28)).To(DType.Float64);
        var sequence = Randn64(29, 2, 3, 4);
        AssertInputGradients(x => dtrn.Forward(x[0], [(x[1], null)]), Randn64(30, 2, 2, 4), sequence);
        AssertParameterGradients(dtrn, () => dtrn.Forward(Randn64(30, 2, 2, 4), [(sequence, null)]).Square().Sum());
        var mmoe = (MultiGateMixture)new MultiGateMixture(4, 3, 2, 2, new Generator(31)).To(DType.Float64);
        AssertInputGradients(x => mmoe.Forward(x[0]), Randn64(32, 3, 2, 4));
        var gated = (TaskGatedLinear)new TaskGatedLinear(4, 3, 2, new Generator(33)).To(DType.Float64);
        AssertInputGradients(x => gated.Forward(x[0], 1), Randn64(34, 3, 4));
    }
}
