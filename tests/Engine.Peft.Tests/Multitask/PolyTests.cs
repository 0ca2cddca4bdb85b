using Engine.Peft.Multitask;
using Xunit;
using static Engine.Peft.Tests.TestSupport;

namespace Engine.Peft.Tests.Multitask;

/// <summary>
/// Poly: per example, its task's router mixes the layer's LoRA skills (split by split); the adapted model starts at the
/// base for any task, training separates the tasks, and a mixed batch routes each example by its own task.
/// </summary>
public class PolyTests
{
    static PolyLayer Layer(int inF, int outF, PolyConfig config) => StandaloneLayer(l => new PolyLayer(l), inF, outF, config);

    static double Sigmoid(double z) => 1 / (1 + Math.Exp(-z));

    [Fact]
    public void Forward_IsTheNaivePerExampleMixtureOfSkills_WithExactGradients()
    {
        const int inF = 6, outF = 4, q = 2, s = 3, r = 2, tasks = 3, batch = 3, time = 2;
        var layer = Layer(inF, outF, new PolyConfig { R = r, NTasks = tasks, NSkills = s, NSplits = q, InitWeights = false });
        Scramble(layer.Router("a").Logits, 5, 1.0);
        int[] ids = [2, 0, 2];
        var x = Randn64(8, batch, time, inF);
        double[] got;
        using (TaskIds.Begin(ids)) got = layer.Forward(x).ToDoubleArray();

        var logits = layer.Router("a").Logits.ToDoubleArray();
        var a = layer.A("a").ToDoubleArray();                 // [q, s, in/q, r]
        var bw = layer.B("a").ToDoubleArray();                // [q, s, r, out/q]
        var baseOut = layer.BaseLayer.Forward(x).ToDoubleArray();
        var xs = x.ToDoubleArray();
        int d = inF / q, o = outF / q;
        var expected = new double[batch * time * outF];
        for (int b = 0; b < batch; b++)
        {
            var w = new double[q, s];
            for (int qq = 0; qq < q; qq++)
            {
                double sum = 0;
                for (int k = 0; k < s; k++) sum += w[qq, k] = Sigmoid(logits[ids[b] * q * s + qq * s + k]);
                for (int k = 0; k < s; k++) w[qq, k] /= sum + 1e-12;
            }
            var ab = new double[inF, r];
            var bb = new double[r, outF];
            for (int qq = 0; qq < q; qq++)
                for (int k = 0; k < s; k++)
                {
                    for (int i = 0; i < d; i++) for (int j = 0; j < r; j++) ab[qq * d + i, j] += w[qq, k] * a[((qq * s + k) * d + i) * r + j];
                    for (int j = 0; j < r; j++) for (int i = 0; i < o; i++) bb[j, qq * o + i] += w[qq, k] * bw[((qq * s + k) * r + j) * o + i];
                }
            for (int t = 0; t < time; t++)
                for (int c = 0; c < outF; c++)
                {
                    double sum = 0;
                    for (int j = 0; j < r; j++)
                    {
                        double h = 0;
                        for (int i = 0; i < inF; i++) h += xs[(b * time + t) * inF + i] * ab[i, j];
                        sum += h * bb[j, c];
                    }
                    int at = (b * time + t) * outF + c;
                    expected[at] = baseOut[at] + sum / r;
                }
        }
        AssertClose(expected, got, 1e-12);
        using (TaskIds.Begin(ids)) AssertParameterGradients(layer, () => layer.Forward(x));
    }

    [Fact]
    public void FreshAdapter_IsTheBaseForAnyTaskIds_InEvaluationAndTraining()
    {
        var expected = TinyGpt().Forward(Ids()).ToDoubleArray();
        var peft = Peft.Apply(TinyGpt(), new PolyConfig { R = 2, NTasks = 3, NSkills = 2, NSplits = 2, TargetModules = ["qkv", "proj", "fc"], Seed = 3 });
        foreach (var ids in new[] { new[] { 0, 0 }, [1, 2], [2, 0] })
        {
            Assert.Equal(expected, peft.ForwardForTasks(Ids(), ids).ToDoubleArray());
            peft.Train();
            Assert.Equal(expected, peft.ForwardForTasks(Ids(), ids).ToDoubleArray());
            peft.Eval();
        }
    }

    [Fact]
    public void Router_TrainingSamplesARelaxedBernoulli_EvaluationTakesTheSigmoid_AndWeightsSumToOnePerSplit()
    {
        var router = new PolyRouter(2, 2, 3, DType.Float64, new Generator(4));
        using (Autograd.Autograd.NoGrad()) router.Logits.CopyFrom(Tensor.FromArray(new double[,] { { 0.8, -1.5, 0.1, 2, 0, -0.3 }, { 0, 0, 0, 0, 0, 0 } }));
        router.Eval();
        AssertClose(new[] { 0.8, -1.5, 0.1, 2, 0, -0.3 }.Select(Sigmoid).ToArray(), router.Activations([0]).ToDoubleArray(), 1e-15);
        router.Train();
        const int draws = 20000;
        var samples = router.Activations(Enumerable.Repeat(0, draws).ToArray()).ToDoubleArray();
        // sigmoid(l + log u - log(1 - u)) > 1/2 exactly when the logistic noise exceeds -l: probability sigmoid(l).
        for (int k = 0; k < 6; k++)
        {
            double l = router.Logits.ToDoubleArray()[k];
            double above = Enumerable.Range(0, draws).Count(i => samples[i * 6 + k] > 0.5) / (double)draws;
            Assert.True(Math.Abs(above - Sigmoid(l)) < 0.015, $"logit {l}: {above} of the samples exceed 1/2, expected {Sigmoid(l)}");
        }
        var w = router.Weights([0, 1, 1]).ToDoubleArray();
        for (int row = 0; row < 3 * 2; row++) Assert.Equal(1, w.Skip(row * 3).Take(3).Sum(), 9);
        Assert.NotEqual(router.Weights([1]).ToDoubleArray(), router.Weights([1]).ToDoubleArray());
        // The sample is differentiable in the logits (the reparameterisation PEFT's rsample uses).
        router.Weights([0, 1]).Select(2, 0).Sum().Backward();
        Assert.True(router.Logits.Grad!.Abs().Max().Item() > 0);
    }

    [Fact]
    public void AfterTraining_TasksGiveDifferentOutputs_AndAMixedBatchRoutesEachExampleByItsTask()
    {
        var peft = Peft.Apply(TinyGpt(), new PolyConfig { R = 2, NTasks = 2, NSkills = 2, TargetModules = ["fc", "proj"], Seed = 2 });
        var ids = Ids();
        // Task 0 learns to predict token 3 everywhere, task 1 token 11.
        var targets = new[] { Tensor.Full([2, 5], 3, DType.Int64), Tensor.Full([2, 5], 11, DType.Int64) };
        var opt = new AdamW(peft.TrainableParameters(), lr: 5e-2, weightDecay: 0);
        peft.Train();
        for (int step = 0; step < 30; step++)
        {
            int task = step % 2;
            using (peft.TaskScope(task)) Losses.CrossEntropy(peft.Forward(ids).Reshape(-1, 13), targets[task].Reshape(-1)).Backward();
            opt.Step();
            opt.ZeroGrad();
        }
        peft.Eval();
        var task0 = peft.ForwardForTasks(ids, [0, 0]);
        var task1 = peft.ForwardForTasks(ids, [1, 1]);
        Assert.True((task0 - task1).Abs().Max().Item() > 1e-2, "the two tasks' routers still give the same output");
        Assert.True(task0.Select(-1, 3).Mean().Item() > task1.Select(-1, 3).Mean().Item());
        Assert.True(task1.Select(-1, 11).Mean().Item() > task0.Select(-1, 11).Mean().Item());
        var mixed = peft.ForwardForTasks(ids, [1, 0]);
        AssertClose(task1.Select(0, 0).ToDoubleArray(), mixed.Select(0, 0).ToDoubleArray(), 1e-6);
        AssertClose(task0.Select(0, 1).ToDoubleArray(), mixed.Select(0, 1).ToDoubleArray(), 1e-6);
    }

    [Fact]
    public void CachedGeneration_InATaskScope_EqualsUncachedGreedyDecoding()
    {
        var peft = Peft.Apply(TinyGpt(), new PolyConfig { R = 2, NTasks = 2, InitWeights = false, TargetModules = ["qkv", "fc"], Seed = 6 });
        var prompt = Tensor.FromArray(new long[,] { { 3, 8 }, { 12, 1 } });
        using var _ = peft.TaskScope([1, 0]);
        var generated = Sampling.Generate(peft.Model, prompt, 4, new SamplingOptions(Greedy: true));
        var tokens = prompt;
        using (Autograd.Autograd.NoGrad())
            for (int step = 0; step < 4; step++)
                tokens = Tensor.Concat([tokens, peft.Forward(tokens).Select(1, -1).ArgMax(-1).Reshape(2, 1)], 1);
        Assert.Equal(tokens.ToArray<long>(), generated.ToArray<long>());
    }

    [Fact]
    public void Merging_IsRefusedNamingTheMethod_AndSplitsMustDivideTheWidths()
    {
        var peft = Peft.Apply(TinyGpt(), new PolyConfig { R = 2, TargetModules = ["fc"], DefaultTaskId = 0 });
        Assert.Contains("POLY", Assert.Throws<NotSupportedException>(() => peft.Merge()).Message);
        var e = Assert.Throws<ArgumentException>(() => Peft.Apply(TinyGpt(), new PolyConfig { R = 2, NSplits = 3, TargetModules = ["fc"] }));
        Assert.Contains("n_splits 3", e.Message);
    }
}
