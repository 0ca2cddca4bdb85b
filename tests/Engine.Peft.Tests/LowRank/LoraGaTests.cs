using Engine.Peft.LowRank;
using MathNet.Numerics.LinearAlgebra;
using Xunit;
using static Engine.Peft.Tests.TestSupport;

namespace Engine.Peft.Tests.LowRank;

/// <summary>
/// LoRA-GA's property (Wang et al. 2024, section 3.2): after one step of gradient descent with learning rate η, the
/// adapter's update s B A changes by -η s² (G A₀ᵀA₀ + B₀B₀ᵀG) + O(η²), where G is the gradient of the full weight;
/// with A₀ = the top r right singular vectors of G (direction ArB2r), G A₀ᵀA₀ is G's best rank-r approximation, so the
/// first step follows the full gradient's direction at least as well as any rank-r LoRA step can, and better than
/// LoRA's and PiSSA's initialisations do. The gradient is computed here by hand (a linear layer under a squared loss)
/// and decomposed with MathNet; the step is the engine's (autograd and an SGD update).
/// </summary>
public class LoraGaTests
{
    const int In = 8, Out = 6, R = 2;
    const double Eta = 1e-5, Scale = 2;

    static (Sequential Model, Tensor[] X, Tensor[] Y) Setup()
    {
        var model = (Sequential)new Sequential(new Linear(In, Out, bias: true, new Generator(3))).To(DType.Float64);
        var x = Enumerable.Range(0, 3).Select(i => Randn64(20 + (ulong)i, 5, In)).ToArray();
        var y = Enumerable.Range(0, 3).Select(i => Randn64(30 + (ulong)i, 5, Out)).ToArray();
        return (model, x, y);
    }

    static Tensor Loss(Module model, Tensor x, Tensor y) { var d = model.Forward(x) - y; return (d * d).Mean(); }

    static Matrix<double> M(Tensor t) => Matrix<double>.Build.DenseOfRowMajor(t.Size(0), t.Size(1), t.To(DType.Float64).ToDoubleArray());

    // d mean((x Wᵀ + b - y)²) / dW = 2 / (n out) (x Wᵀ + b - y)ᵀ x, averaged over the batches.
    static Matrix<double> NaiveGradient(Linear layer, Tensor[] xs, Tensor[] ys)
    {
        var w = M(layer.Weight);
        var b = Vector<double>.Build.DenseOfArray(layer.Bias!.ToDoubleArray());
        var g = Matrix<double>.Build.Dense(Out, In);
        for (int i = 0; i < xs.Length; i++)
        {
            var x = M(xs[i]);
            var e = x * w.Transpose() - M(ys[i]);
            for (int n = 0; n < e.RowCount; n++) e.SetRow(n, e.Row(n) + b);
            g += 2.0 / (x.RowCount * Out) * e.TransposeThisAndMultiply(x);
        }
        return g / xs.Length;
    }

    // The adapter's update s B A after one SGD step of the average loss, minus its initial value, and A₀, B₀.
    static (Matrix<double> Step, Matrix<double> A0, Matrix<double> B0) FirstStep(LoraConfig config)
    {
        var (model, xs, ys) = Setup();
        var peft = Peft.Apply(model, config with { R = R, LoraAlpha = R * Scale, TargetModules = ["0"], Seed = 5 },
            calibration: new CalibrationData(xs.Length, i => Loss(model, xs[i], ys[i])));
        var layer = (LoraLayer)peft.AdapterLayers().Single().Layer;
        var (a, b) = (layer.LoraA("default"), layer.LoraB("default"));
        var (a0, b0) = (M(a), M(b));
        var before = M(layer.DeltaWeight("default"));
        var total = Loss(model, xs[0], ys[0]);
        for (int i = 1; i < xs.Length; i++) total = total + Loss(model, xs[i], ys[i]);
        (total / xs.Length).Backward();
        using (Autograd.Autograd.NoGrad())
        {
            a.CopyFrom(a.Detach() - a.Grad! * Eta);
            b.CopyFrom(b.Detach() - b.Grad! * Eta);
        }
        return (M(layer.DeltaWeight("default")) - before, a0, b0);
    }

    static double Cosine(Matrix<double> p, Matrix<double> q) => p.PointwiseMultiply(q).Enumerate().Sum() / (p.FrobeniusNorm() * q.FrobeniusNorm());

    [Fact]
    public void FirstStep_FollowsTheGradientsBestRankRApproximation_BetterThanLoraAndPissa()
    {
        var (model, xs, ys) = Setup();
        var g = NaiveGradient((Linear)model[0], xs, ys);
        var svd = g.Svd(computeVectors: true);
        var best = Matrix<double>.Build.Dense(Out, In);
        for (int i = 0; i < R; i++) best += svd.S[i] * svd.U.Column(i).ToColumnMatrix() * svd.VT.Row(i).ToRowMatrix();

        var (step, a0, b0) = FirstStep(new LoraConfig { InitLoraWeights = LoraInit.LoraGa, LoraGaConfig = new() });
        // A₀ holds the top r right singular vectors of G, B₀ the next r left ones times their singular values (and the stable scale).
        double stable = Math.Pow(Out, 0.25) / Math.Sqrt(16);
        for (int i = 0; i < R; i++)
        {
            Assert.Equal(1, Math.Abs(a0.Row(i) * svd.VT.Row(i)), 1e-9);
            Assert.Equal(svd.S[R + i] * stable, Math.Abs(b0.Column(i) * svd.U.Column(R + i)), 1e-9);
        }
        // The engine's step is the first-order update the paper derives.
        var predicted = -Eta * Scale * Scale * (g * a0.TransposeThisAndMultiply(a0) + b0.TransposeAndMultiply(b0) * g);
        Assert.True((step - predicted).FrobeniusNorm() <= 1e-3 * predicted.FrobeniusNorm(), $"step differs from -η s² (G A₀ᵀA₀ + B₀B₀ᵀG) by {(step - predicted).FrobeniusNorm() / predicted.FrobeniusNorm():E2}");
        // Its A-part is the best rank-r approximation of the gradient (Eckart and Young).
        var aPart = g * a0.TransposeThisAndMultiply(a0);
        Assert.True((aPart - best).FrobeniusNorm() <= 1e-9 * best.FrobeniusNorm());

        double loraGa = Cosine(step, -g);
        double bestRankR = Cosine(best, g);
        double lora = Cosine(FirstStep(new LoraConfig()).Step, -g);
        double pissa = Cosine(FirstStep(new LoraConfig { InitLoraWeights = LoraInit.Pissa }).Step, -g);
        Assert.True(loraGa >= bestRankR - 1e-9, $"LoRA-GA's first step has cosine {loraGa:F4} with -G, below the best rank-r direction's {bestRankR:F4}");
        Assert.True(loraGa > lora && loraGa > pissa, $"LoRA-GA {loraGa:F4}, LoRA {lora:F4}, PiSSA {pissa:F4}");
        // No rank-r step of plain LoRA's form, G P with P an orthogonal projection of rank r, beats the best rank-r approximation.
        for (ulong seed = 40; seed < 45; seed++)
        {
            var q = M(Randn64(seed, In, R)).QR().Q.SubMatrix(0, In, 0, R);
            Assert.True(Cosine(g * q * q.Transpose(), g) <= bestRankR + 1e-12);
        }
    }

    [Fact]
    public void Gradients_AreTheAverageOverBatches_AndTheModelsGradStateIsPutBack()
    {
        var (model, xs, ys) = Setup();
        var layer = (Linear)model[0];
        var bias = layer.Bias!;
        bias.Grad = Tensor.Full([Out], 7.0, DType.Float64);
        var gradients = WeightGradients.Average(model, new CalibrationData(xs.Length, i => Loss(model, xs[i], ys[i])), [layer.Weight]);
        var expected = NaiveGradient(layer, xs, ys);
        Assert.True((M(gradients[0]) - expected).FrobeniusNorm() <= 1e-12 * expected.FrobeniusNorm());
        Assert.True(layer.Weight.RequiresGrad && bias.RequiresGrad);
        Assert.Null(layer.Weight.Grad);
        Assert.Equal(Enumerable.Repeat(7.0, Out), bias.Grad!.ToDoubleArray());
    }

    [Fact]
    public void Config_RefusesUnknownNamesAndAMissingConfig_ByName()
    {
        Assert.Contains("lora_ga_config", Assert.Throws<ArgumentException>(new LoraConfig { InitLoraWeights = LoraInit.LoraGa }.Validate).Message);
        Assert.Contains("direction", Assert.Throws<ArgumentException>(new LoraConfig { InitLoraWeights = LoraInit.LoraGa, LoraGaConfig = new() { Direction = "Ar" } }.Validate).Message);
        Assert.Contains("scale", Assert.Throws<ArgumentException>(new LoraConfig { InitLoraWeights = LoraInit.LoraGa, LoraGaConfig = new() { Scale = "big" } }.Validate).Message);
        Assert.Contains("stable_gamma", Assert.Throws<ArgumentException>(new LoraConfig { InitLoraWeights = LoraInit.LoraGa, LoraGaConfig = new() { StableGamma = 0 } }.Validate).Message);
    }
}
