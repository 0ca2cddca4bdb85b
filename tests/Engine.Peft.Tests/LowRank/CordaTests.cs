using Engine.Peft.LowRank;
using MathNet.Numerics.LinearAlgebra;
using Xunit;
using static Engine.Peft.Tests.TestSupport;

namespace Engine.Peft.Tests.LowRank;

/// <summary>
/// CorDA's property (Yang et al. 2024, section 3): the weight is decomposed as oriented by the covariance C of its
/// inputs, W C = U S Vᵀ, and the adapter holds the r components of largest context-weighted singular value (IPM) or
/// of smallest (KPM), the base the rest. The reference is computed here with MathNet from the known inputs of a
/// one-layer model: PEFT's normalised covariance and damping loop, then the SVD.
/// </summary>
public class CordaTests
{
    const int In = 6, Out = 5, R = 2;

    // A Float64 layer [5, 6] and three batches of correlated inputs (a fixed mixing of Gaussians) it is calibrated on.
    static (Sequential Model, Tensor[] Inputs) Setup()
    {
        var model = (Sequential)new Sequential(new Linear(In, Out, bias: true, new Generator(3))).To(DType.Float64);
        var mixing = Randn64(4, In, In);
        var inputs = Enumerable.Range(0, 3).Select(i => Randn64(10 + (ulong)i, 7, In) % mixing).ToArray();
        return (model, inputs);
    }

    static CalibrationData Data(Sequential model, Tensor[] inputs) => new(inputs.Length, i => model.Forward(inputs[i]).Sum());

    static Matrix<double> M(Tensor t) => Matrix<double>.Build.DenseOfRowMajor(t.Size(0), t.Size(1), t.To(DType.Float64).ToDoubleArray());

    // PEFT's covariance (each batch divided by |max|), its damped form and inverse, by MathNet.
    static (Matrix<double> Damped, Matrix<double> Inverse) NaiveCovariance(Tensor[] inputs)
    {
        var c = Matrix<double>.Build.Dense(In, In);
        foreach (var x in inputs)
        {
            var m = M(x);
            m = m / Math.Abs(m.Enumerate().Max());
            c += m.TransposeThisAndMultiply(m);
        }
        c /= inputs.Length;
        var eye = Matrix<double>.Build.DenseIdentity(In);
        for (double damp = 0.01; ; damp *= 2)
        {
            var damped = c + eye * (c.Diagonal().Average() * damp);
            var inverse = damped.Inverse();
            if ((damped * inverse - eye).FrobeniusNorm() < 0.05) return (damped, inverse);
        }
    }

    [Theory]
    [InlineData("ipm")]
    [InlineData("kpm")]
    public void Adapter_HoldsTheLargestOrSmallestContextWeightedComponents_AndTheBaseTheRest(string method)
    {
        var (model, inputs) = Setup();
        var w = M(((Linear)model[0]).Weight);
        var before = inputs.Select(x => model.Forward(x).ToDoubleArray()).ToArray();
        var config = new LoraConfig { R = R, LoraAlpha = 4, TargetModules = ["0"], InitLoraWeights = LoraInit.Corda, CordaConfig = new() { CordaMethod = method } };
        var peft = Peft.Apply(model, config, calibration: Data(model, inputs));
        var layer = (LoraLayer)peft.AdapterLayers().Single().Layer;

        var (damped, inverse) = NaiveCovariance(inputs);
        var svd = (w * damped).Svd(computeVectors: true);
        int k = Math.Min(In, Out);
        var chosen = method == "ipm" ? Enumerable.Range(0, R) : Enumerable.Range(k - R, R);
        var expected = Matrix<double>.Build.Dense(Out, In);
        foreach (int i in chosen)
            expected += svd.S[i] * svd.U.Column(i).ToColumnMatrix() * (svd.VT.Row(i) * inverse).ToRowMatrix();

        var delta = M(layer.DeltaWeight("default"));
        Assert.True((delta - expected).FrobeniusNorm() <= 1e-9 * expected.FrobeniusNorm(), $"{method}: s B A differs from the reference by {(delta - expected).FrobeniusNorm():E2}");
        var residual = M(layer.BaseLayer.Weight);
        Assert.True((residual - (w - expected)).FrobeniusNorm() <= 1e-12 * w.FrobeniusNorm(), $"{method}: the base is not W - s B A");

        // Seen through the context, the adapter's singular values are the chosen ones, the base's the others.
        var adapterValues = (delta * damped).Svd(false).S.Take(R).OrderBy(v => v).ToArray();
        var all = svd.S.Take(k).ToArray();
        var wanted = (method == "ipm" ? all.Take(R) : all.Skip(k - R)).OrderBy(v => v).ToArray();
        var baseValues = (residual * damped).Svd(false).S.Take(k - R).OrderBy(v => v).ToArray();
        var others = (method == "ipm" ? all.Skip(R) : all.Take(k - R)).OrderBy(v => v).ToArray();
        for (int i = 0; i < R; i++) Assert.Equal(wanted[i], adapterValues[i], 1e-9);
        for (int i = 0; i < k - R; i++) Assert.Equal(others[i], baseValues[i], 1e-9);
        if (method == "ipm") Assert.True(adapterValues.Min() >= baseValues.Max());
        else Assert.True(adapterValues.Max() <= baseValues.Min());

        // The adapted model starts where the base was.
        for (int i = 0; i < inputs.Length; i++)
            Assert.True(before[i].Zip(peft.Forward(inputs[i]).ToDoubleArray(), (a, b) => Math.Abs(a - b)).Max() < 1e-12);
    }

    [Fact]
    public void ConvertToLora_WritesThePlainLoraOfTheOriginalBase_WhichLoadsWithoutData()
    {
        var (model, inputs) = Setup();
        var config = new LoraConfig { R = R, LoraAlpha = 4, TargetModules = ["0"], InitLoraWeights = LoraInit.Corda, Seed = 5 };
        var peft = Peft.Apply(model, config, calibration: Data(model, inputs));
        foreach (var p in peft.TrainableParameters()) Scramble(p, 9, 0.3);
        var expected = peft.Forward(inputs[0]).ToDoubleArray();
        var folder = TempFolder();
        try
        {
            peft.SavePretrained(folder, convertToLora: true);
            var fresh = Setup().Model;
            var loaded = Peft.FromPretrained(fresh, folder);
            var plain = (LoraConfig)loaded.PeftConfigs["default"];
            Assert.Equal((LoraInit.Default, 2 * R), (plain.InitLoraWeights, plain.R));
            Assert.True(expected.Zip(loaded.Forward(inputs[0]).ToDoubleArray(), (a, b) => Math.Abs(a - b)).Max() < 1e-12);
        }
        finally { Directory.Delete(folder, recursive: true); }
    }

    [Fact]
    public void Config_RefusesAnUnknownMethodAndPeftsPickleFiles_ByName()
    {
        var bad = new LoraConfig { TargetModules = ["0"], InitLoraWeights = LoraInit.Corda, CordaConfig = new() { CordaMethod = "xpm" } };
        Assert.Contains("corda_method", Assert.Throws<ArgumentException>(bad.Validate).Message);
        var (model, inputs) = Setup();
        var cached = new LoraConfig { TargetModules = ["0"], InitLoraWeights = LoraInit.Corda, CordaConfig = new() { CacheFile = "cache.pt" } };
        Assert.Contains("cache_file", Assert.Throws<NotSupportedException>(() => Peft.Apply(model, cached, calibration: Data(model, inputs))).Message);
    }
}
