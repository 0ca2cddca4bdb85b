using Engine.Peft.Rotation;
using Xunit;
using static Engine.Peft.Tests.Subspace.SubspaceTestSupport;
using static Engine.Peft.Tests.TestSupport;

namespace Engine.Peft.Tests.Rotation;

/// <summary>
/// HRA: H is a product of reflections, so it stays orthogonal however U trains (the method's point: an orthogonal
/// adaptation with low-rank parameters); the symmetric start is the identity; H matches the product of the
/// reflections built by loops; Gram–Schmidt (apply_GS) gives H = I − 2 Q Qᵀ with gradients; merge and unmerge round-trip;
/// the paper's regulariser is λ Σ ‖I − ÛᵀÛ‖_F².
/// </summary>
public class HraTests
{
    const int InF = 7, OutF = 5;

    static HraLayer Hra(HraConfig config) => Layer(l => new HraLayer(l), InF, OutF, config);

    // Π_i (I − 2 û_i û_iᵀ) of the columns of u [n, r], left to right, by loops.
    static double[] ReflectionProduct(double[] u, int n, int r)
    {
        var h = Identity(n);
        for (int i = 0; i < r; i++)
        {
            var col = Enumerable.Range(0, n).Select(k => u[k * r + i]).ToArray();
            double norm = Math.Sqrt(col.Sum(v => v * v));
            var reflection = Identity(n);
            for (int a = 0; a < n; a++)
                for (int b = 0; b < n; b++) reflection[a * n + b] -= 2 * col[a] * col[b] / (norm * norm);
            h = Mul(h, reflection, n, n, n);
        }
        return h;
    }

    [Fact]
    public void SymmetricStart_IsTheIdentity_WithEachColumnRepeated()
    {
        var layer = Hra(new HraConfig { R = 4 });
        var u = layer.U("a").ToDoubleArray();
        for (int k = 0; k < InF; k++)
        {
            Assert.Equal(u[k * 4 + 0], u[k * 4 + 1]);
            Assert.Equal(u[k * 4 + 2], u[k * 4 + 3]);
        }
        // kaiming(√5) on [in, r/2]: U(±1/√(r/2)).
        Assert.All(u, v => Assert.True(Math.Abs(v) <= 1 / Math.Sqrt(2)));
        AssertClose(Identity(InF), layer.Rotation("a").ToDoubleArray(), 1e-12);
    }

    [Fact]
    public void Rotation_IsTheProductOfTheReflections_AndTheForwardUsesWH()
    {
        var layer = Hra(new HraConfig { R = 3, InitWeights = false });
        var h = ReflectionProduct(layer.U("a").ToDoubleArray(), InF, 3);
        AssertClose(h, layer.Rotation("a").ToDoubleArray(), 1e-12);
        var x = Randn64(3, 4, InF);
        var wh = Mul(layer.BaseLayer.Weight.ToDoubleArray(), h, OutF, InF, InF);
        var bias = layer.BaseLayer.Bias!.ToDoubleArray();
        var y = NaiveMatMulT(x.ToDoubleArray(), 4, wh, InF, OutF).Select((v, i) => v + bias[i % OutF]).ToArray();
        AssertClose(y, layer.Forward(x).ToDoubleArray(), 1e-12);
        AssertParameterGradients(layer, () => layer.Forward(x));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Rotation_StaysOrthogonalThroughAdamWSteps(bool applyGS)
    {
        const int r = 4;
        var layer = Hra(new HraConfig { R = r, ApplyGS = applyGS });
        var x = Randn64(1, 16, InF);
        var target = Randn64(2, 16, OutF);
        var u0 = layer.U("a").ToDoubleArray();
        var optimizer = new AdamW([layer.U("a")], lr: 0.05);
        for (int step = 0; step < 20; step++)
        {
            optimizer.ZeroGrad();
            (layer.Forward(x) - target).Square().Mean().Backward();
            optimizer.Step();
        }
        Assert.True(u0.Zip(layer.U("a").ToDoubleArray(), (a, b) => Math.Abs(a - b)).Max() > 0.05, "U did not move");
        var h = layer.Rotation("a").ToDoubleArray();
        Assert.True(Add(h, Identity(InF), -1).Max(Math.Abs) > 0.05, "H is still the identity");
        AssertClose(Identity(InF), Mul(Transpose(h, InF, InF), h, InF, InF, InF), 1e-12, "HᵀH");
        // W H keeps the singular values of W (an orthogonal map on the input side).
        var (_, before, _) = Linalg.Svd(layer.BaseLayer.Weight);
        var (_, after, _) = Linalg.Svd(Tensor.FromArray(Mul(layer.BaseLayer.Weight.ToDoubleArray(), h, OutF, InF, InF), [OutF, InF]));
        AssertClose(before.ToDoubleArray(), after.ToDoubleArray(), 1e-10, "singular values");
    }

    [Fact]
    public void GramSchmidt_GivesIMinusTwoQQt_WithGradients()
    {
        const int r = 3;
        var layer = Hra(new HraConfig { R = r, ApplyGS = true });
        var u = layer.U("a").ToDoubleArray();
        // Classical Gram–Schmidt on the columns, by loops.
        var q = new double[InF * r];
        for (int i = 0; i < r; i++)
        {
            var v = Enumerable.Range(0, InF).Select(k => u[k * r + i]).ToArray();
            for (int j = 0; j < i; j++)
            {
                double dot = Enumerable.Range(0, InF).Sum(k => q[k * r + j] * u[k * r + i]);
                for (int k = 0; k < InF; k++) v[k] -= dot * q[k * r + j];
            }
            double norm = Math.Sqrt(v.Sum(t => t * t));
            for (int k = 0; k < InF; k++) q[k * r + i] = v[k] / norm;
        }
        var expected = Add(Identity(InF), Mul(q, Transpose(q, InF, r), InF, r, InF), -2);
        AssertClose(expected, layer.Rotation("a").ToDoubleArray(), 1e-12);
        var x = Randn64(4, 3, InF);
        AssertParameterGradients(layer, () => layer.Forward(x));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void MergeThenUnmerge_RoundTrips(bool applyGS)
    {
        var peft = Peft.Apply(TinyGpt(), new HraConfig { R = 3, ApplyGS = applyGS, InitWeights = false, TargetModules = ["qkv", "fc"], Seed = 4 });
        AssertMergeRoundTrips(peft, Ids());
    }

    [Fact]
    public void Regularizer_IsLambdaTimesTheSumOfTheColumnGramDeviations()
    {
        var config = new HraConfig { R = 3, InitWeights = false, TargetModules = ["qkv", "fc"], Seed = 4 };
        Assert.Null(Peft.Apply(TinyGpt(), config).RegularizationLoss());
        var peft = Peft.Apply(TinyGpt(), config with { OrthRegWeight = 0.5 });
        double expected = 0;
        foreach (var (_, layer) in peft.AdapterLayers())
        {
            var hra = (HraLayer)layer;
            int n = hra.InFeatures;
            var u = hra.U("default").ToDoubleArray();
            var norms = Enumerable.Range(0, 3).Select(i => Math.Sqrt(Enumerable.Range(0, n).Sum(k => u[k * 3 + i] * u[k * 3 + i]))).ToArray();
            for (int i = 0; i < 3; i++)
                for (int j = 0; j < 3; j++)
                {
                    double g = Enumerable.Range(0, n).Sum(k => u[k * 3 + i] * u[k * 3 + j]) / (norms[i] * norms[j]);
                    expected += Math.Pow((i == j ? 1 : 0) - g, 2);
                }
        }
        Assert.Equal(4, peft.AdapterLayers().Count());
        Assert.Equal(0.5 * expected, peft.RegularizationLoss()!.Item(), 5);
    }
}
