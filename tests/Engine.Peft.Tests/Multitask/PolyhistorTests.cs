using Engine.Peft.Multitask;
using Xunit;
using static Engine.Peft.Tests.TestSupport;
using PeftApi = Engine.Peft.Peft;

namespace Engine.Peft.Tests.Multitask;

/// <summary>
/// Polyhistor (the engine's reading of arXiv:2210.03265): the generated adapter weights are the decomposed
/// hypernetworks' factor products, scaled by Kronecker products with the layer-wise scaling kernels (restated naively
/// here); the trainable count follows its formula; W_up's zero right factor gives the base model for every task; once
/// trained, two tasks give different outputs.
/// </summary>
public class PolyhistorTests
{
    static readonly ModuleSelector Sublayers = ["attn.proj", "mlp.proj"];

    static PolyhistorConfig Config(int? template) => new()
    {
        BottleneckSize = 4, HyperRank = 2, EmbeddingDim = 3, TemplateSize = template, NTasks = 3, InitWeights = false, TargetModules = Sublayers, Seed = 6,
    };

    // Naive: c = [E[t]; z]; L = (H_l c) viewed [rows, k]; R = (H_r c) viewed [k, cols]; T = L R; W = S ⊗ T.
    static double[,] Naive(double[] task, double[] layer, double[] hl, double[] hr, int rows, int k, int cols)
    {
        var c = task.Concat(layer).ToArray();
        double[] Apply(double[] h, int outs)
        {
            var o = new double[outs];
            for (int i = 0; i < outs; i++) for (int j = 0; j < c.Length; j++) o[i] += h[i * c.Length + j] * c[j];
            return o;
        }
        var l = Apply(hl, rows * k);
        var r = Apply(hr, k * cols);
        var t = new double[rows, cols];
        for (int i = 0; i < rows; i++) for (int j = 0; j < cols; j++) for (int p = 0; p < k; p++) t[i, j] += l[i * k + p] * r[p * cols + j];
        return t;
    }

    static double[,] Kron(double[,] s, double[,] t)
    {
        int p = s.GetLength(0), q = s.GetLength(1), a = t.GetLength(0), b = t.GetLength(1);
        var w = new double[p * a, q * b];
        for (int i = 0; i < p; i++) for (int j = 0; j < q; j++) for (int ii = 0; ii < a; ii++) for (int jj = 0; jj < b; jj++) w[i * a + ii, j * b + jj] = s[i, j] * t[ii, jj];
        return w;
    }

    static double[,] Matrix(Tensor t)
    {
        var v = t.ToDoubleArray();
        var m = new double[t.Size(0), t.Size(1)];
        for (int i = 0; i < t.Size(0); i++) for (int j = 0; j < t.Size(1); j++) m[i, j] = v[i * t.Size(1) + j];
        return m;
    }

    [Theory]
    [InlineData(4)]
    [InlineData(null)]
    public void GeneratedWeights_AreTheHypernetworkFactorProducts_ScaledByKronecker(int? template)
    {
        var peft = PeftApi.Apply(TinyGpt(), Config(template));
        foreach (var (_, l) in peft.AdapterLayers())
        {
            var layer = (PolyhistorLayer)l;
            if (layer.ScalingKernels("default") is var (sd0, su0)) { Scramble(sd0, 3, 0.5); Scramble(su0, 4, 0.5); }
            var part = layer.Hypernetwork("default");
            int d = layer.OutFeatures, dt = template ?? d, m = 4, k = 2;
            var (down, up) = layer.GeneratedWeights("default");
            Assert.Equal([3, m, d], down.Shape);
            Assert.Equal([3, d, m], up.Shape);
            var z = layer.LayerEmbedding("default").ToDoubleArray();
            var tasks = part.TaskEmbedding.ToDoubleArray();
            for (int t = 0; t < 3; t++)
            {
                var task = tasks.Skip(3 * t).Take(3).ToArray();
                var tDown = Naive(task, z, part.Hyper("polyhistor_down_left").ToDoubleArray(), part.Hyper("polyhistor_down_right").ToDoubleArray(), m, k, dt);
                var tUp = Naive(task, z, part.Hyper("polyhistor_up_left").ToDoubleArray(), part.Hyper("polyhistor_up_right").ToDoubleArray(), dt, k, m);
                var (wd, wu) = layer.ScalingKernels("default") is var (sd, su) ? (Kron(Matrix(sd), tDown), Kron(Matrix(su), tUp)) : (tDown, tUp);
                var gotDown = Matrix(down.Select(0, t));
                var gotUp = Matrix(up.Select(0, t));
                for (int i = 0; i < m; i++) for (int j = 0; j < d; j++) Assert.Equal(wd[i, j], gotDown[i, j], 1e-5);
                for (int i = 0; i < d; i++) for (int j = 0; j < m; j++) Assert.Equal(wu[i, j], gotUp[i, j], 1e-5);
            }
        }
    }

    [Fact]
    public void Forward_IsTheNaivePerExampleAdapter()
    {
        var peft = PeftApi.Apply(TinyGpt(), Config(4));
        var layer = (PolyhistorLayer)peft.AdapterLayers().First().Layer;
        int[] ids = [2, 0, 2];
        var x = Randn64(8, 3, 2, layer.InFeatures).To(DType.Float32);
        double[] got;
        using (TaskIds.Begin(ids)) got = layer.Forward(x).ToDoubleArray();
        var h = layer.BaseLayer.Forward(x).ToDoubleArray();
        var (down, up) = layer.GeneratedWeights("default");
        int d = layer.OutFeatures, m = 4;
        for (int b = 0; b < 3; b++)
        {
            var wd = Matrix(down.Select(0, ids[b]));
            var wu = Matrix(up.Select(0, ids[b]));
            for (int p = 0; p < 2; p++)
            {
                int row = (b * 2 + p) * d;
                var z = new double[m];
                for (int i = 0; i < m; i++)
                {
                    double s = 0;
                    for (int j = 0; j < d; j++) s += h[row + j] * wd[i, j];
                    s /= Math.Sqrt(d);
                    z[i] = 0.5 * s * (1 + Erf(s / Math.Sqrt(2)));
                }
                for (int j = 0; j < d; j++)
                {
                    double y = h[row + j];
                    for (int i = 0; i < m; i++) y += z[i] * wu[j, i] / Math.Sqrt(m);
                    Assert.Equal(y, got[row + j], 1e-4);
                }
            }
        }
    }

    static double Erf(double x) => MathNet.Numerics.SpecialFunctions.Erf(x);

    [Fact]
    public void TrainableCount_FollowsItsFormula()
    {
        // TinyGpt: width 8, two blocks, two sub-layer outputs each: L = 4; m = 4, k = 2, e = 3, 3 tasks.
        var lite = Config(4);
        long expectedLite = 2 * 3 * (4 * 2 + 2 * 4 + 4 * 2 + 2 * 4) + 3 * 3 + 4 * 3 + 4 * 2 * (8 / 4);
        Assert.Equal(expectedLite, PeftApi.Apply(TinyGpt(), lite).ParameterCount(trainableOnly: true));
        Assert.Equal(expectedLite, lite.TrainableCount(4, 8));
        var full = Config(null);
        long expectedFull = 2 * 3 * (4 * 2 + 2 * 8 + 8 * 2 + 2 * 4) + 3 * 3 + 4 * 3;
        Assert.Equal(expectedFull, PeftApi.Apply(TinyGpt(), full).ParameterCount(trainableOnly: true));
        Assert.Equal(expectedFull, full.TrainableCount(4, 8));
    }

    [Theory]
    [InlineData(4)]
    [InlineData(null)]
    public void ZeroUpFactor_GivesTheBaseModel_ForEveryTask(int? template)
    {
        var peft = PeftApi.Apply(TinyGpt(), Config(template) with { InitWeights = true });
        var expected = TinyGpt().Forward(Ids()).ToDoubleArray();
        for (int t = 0; t < 3; t++)
        {
            double[] got;
            using (peft.TaskScope(t)) got = peft.Forward(Ids()).ToDoubleArray();
            Assert.Equal(expected, got);
        }
    }

    [Fact]
    public void OnceTrained_TwoTasksGiveDifferentOutputs()
    {
        var peft = PeftApi.Apply(TinyGpt(), Config(4) with { InitWeights = true, NTasks = 2 });
        var ids = Ids();
        Tensor For(int t) { using (peft.TaskScope(t)) return peft.Forward(ids); }
        Assert.Equal(For(0).ToDoubleArray(), For(1).ToDoubleArray());
        var optimizer = new AdamW(peft.ParamGroups(1e-2, 0));
        peft.Train();
        for (int step = 0; step < 3; step++)
        {
            optimizer.ZeroGrad();
            Tensor loss;
            using (peft.TaskScope([0, 1])) loss = Losses.CrossEntropy(peft.Forward(ids.Slice(1, 0, 4)), ids.Slice(1, 1, 5));
            loss.Backward();
            optimizer.Step();
        }
        peft.Eval();
        double diff = (For(0) - For(1)).Abs().Max().Item();
        Assert.True(diff > 1e-4, $"the two tasks' outputs differ by only {diff}");
    }

    [Fact]
    public void ATemplateSizeThatDoesNotDivideTheWidth_IsRefused()
    {
        Assert.ThrowsAny<ArgumentException>(() => PeftApi.Apply(TinyGpt(), Config(3)));
    }
}
