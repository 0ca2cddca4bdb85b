using Engine.Peft.Singular;
using MathNet.Numerics.LinearAlgebra;
using Xunit;
using static Engine.Peft.Tests.Subspace.SubspaceTestSupport;
using static Engine.Peft.Tests.TestSupport;

namespace Engine.Peft.Tests.Singular;

/// <summary>
/// The singular family's points (issue 17; spec adapters-lowrank.md sections 4–7), each against a reference built
/// independently (MathNet's SVD, loops): SVFit and CLIP-SVD train exactly r (k') numbers per matrix and give
/// W0 + Σ_i (s_i − S_i) u_i v_iᵀ; SALT with ρ = k, no X Y and β = 0 is the singular-value method with s = α ⊙ S; SALT's
/// ReLU clips a negative entry of X Y; LoLDU starts at W0, trains r numbers and merges to its parametrised forward.
/// </summary>
public class SingularTests
{
    const int InF = 12, OutF = 9, K = 9;

    static Matrix<double> WeightOf(AdapterLayer layer) =>
        Matrix<double>.Build.DenseOfRowMajor(OutF, InF, layer.BaseLayer.Weight.ToDoubleArray());

    static long Trainable(AdapterLayer layer) => layer.AdapterTensors("a").Where(t => t.Trainable).Sum(t => t.Tensor.Numel);

    // y = x W'ᵀ + b by loops.
    static double[] Expected(Tensor x, Matrix<double> w, AdapterLayer layer)
    {
        int n = (int)(x.Numel / InF);
        var bias = layer.BaseLayer.Bias!.ToDoubleArray();
        return NaiveMatMulT(x.ToDoubleArray(), n, w.ToRowMajorArray(), InF, OutF).Select((v, i) => v + bias[i % OutF]).ToArray();
    }

    // W0 + Σ_{i<r} (s_i − S_i) u_i v_iᵀ from MathNet's SVD (sign-free: each term is a product u_i v_iᵀ).
    static Matrix<double> ReplacedValues(Matrix<double> w, double[] s)
    {
        var svd = w.Svd(true);
        var result = w.Clone();
        for (int i = 0; i < s.Length; i++)
            result += (s[i] - svd.S[i]) * svd.U.Column(i).OuterProduct(svd.VT.Row(i));
        return result;
    }

    [Theory]
    [InlineData(0.99)]
    [InlineData(0.6)]
    public void Svfit_EnergyRule_TrainsExactlyRValues_AndReplacesTheTopSingularValues(double energy)
    {
        var layer = Layer(l => new SingularValueLayer(l), InF, OutF, new SvfitConfig { EnergyThreshold = energy });
        var w = WeightOf(layer);
        var s = w.Svd(false).S.ToArray();
        double total = s.Sum(v => v * v), running = 0;
        int r = 0;
        while (running < energy * total) running += s[r] * s[r++];
        Assert.Equal(r, layer.Rank("a"));
        Assert.Equal(r, Trainable(layer));
        var x = Randn64(4, 5, InF);
        AssertClose(Expected(x, w, layer), layer.Forward(x).ToDoubleArray(), 1e-12);
        var trained = Enumerable.Range(0, r).Select(i => s[i] * (1 + 0.3 * Math.Sin(i + 1)) - 0.1).ToArray();
        Set(layer.Values("a"), trained);
        AssertClose(Expected(x, ReplacedValues(w, trained), layer), layer.Forward(x).ToDoubleArray(), 1e-5);
        AssertParameterGradients(layer, () => layer.Forward(x));
    }

    [Theory]
    [InlineData(1.0, 8)]   // ⌊9/4⌋·4 = 8: the smallest triplet is dropped
    [InlineData(0.5, 4)]
    [InlineData(0.1, 1)]   // ⌊0.9⌋ = 0 → clamped to 1
    public void ClipSvd_TrainsKPrimeValues_AndKeepsOnlyTheTopKPrimeTriplets(double ratio, int kPrime)
    {
        Assert.Equal(kPrime, ClipSvdConfig.RankFor(K, ratio));
        var layer = Layer(l => new SingularValueLayer(l), InF, OutF, new ClipSvdConfig { GlobalRankRatio = ratio });
        Assert.Equal(kPrime, layer.Rank("a"));
        Assert.Equal(kPrime, Trainable(layer));
        var w = WeightOf(layer);
        var svd = w.Svd(true);
        var trained = Enumerable.Range(0, kPrime).Select(i => svd.S[i] * 1.2 + 0.05).ToArray();
        Set(layer.Values("a"), trained);
        // SVD_Linear: y = U_k' diag(s) V_k'ᵀ x + b.
        var expected = Matrix<double>.Build.Dense(OutF, InF);
        for (int i = 0; i < kPrime; i++) expected += trained[i] * svd.U.Column(i).OuterProduct(svd.VT.Row(i));
        var x = Randn64(4, 5, InF);
        AssertClose(Expected(x, expected, layer), layer.Forward(x).ToDoubleArray(), 1e-5);
    }

    [Fact]
    public void ClipSvd_FullRank_StartsAtTheBase()
    {
        var layer = Layer(l => new SingularValueLayer(l), 12, 8, new ClipSvdConfig());
        Assert.Equal(8, Trainable(layer));
        var x = Randn64(4, 5, 12);
        var bias = layer.BaseLayer.Bias!.ToDoubleArray();
        var y = NaiveMatMulT(x.ToDoubleArray(), 5, layer.BaseLayer.Weight.ToDoubleArray(), 12, 8).Select((v, i) => v + bias[i % 8]).ToArray();
        AssertClose(y, layer.Forward(x).ToDoubleArray(), 1e-12);
    }

    [Fact]
    public void Salt_WithFullRhoNoLowRankAndNoShift_IsTheSingularValueMethodWithScaledValues()
    {
        var salt = Layer(l => new SaltLayer(l), InF, OutF, new SaltConfig { Rank = K, RLora = 0 });
        var svfit = Layer(l => new SingularValueLayer(l), InF, OutF, new SvfitConfig { R = K });
        Assert.Equal(2 * K, Trainable(salt)); // α and β only
        var x = Randn64(4, 5, InF);
        AssertClose(svfit.Forward(x).ToDoubleArray(), salt.Forward(x).ToDoubleArray(), 1e-12); // both at the base
        var alpha = Enumerable.Range(0, K).Select(i => 0.5 + 0.1 * i).ToArray();
        Set(salt.Scale("a"), alpha);
        var s = svfit.S("a").ToDoubleArray();
        Set(svfit.Values("a"), s.Select((v, i) => alpha[i] * v).ToArray());
        AssertClose(svfit.Forward(x).ToDoubleArray(), salt.Forward(x).ToDoubleArray(), 1e-10);
        AssertClose(Expected(x, ReplacedValues(WeightOf(salt), s.Select((v, i) => alpha[i] * v).ToArray()), salt), salt.Forward(x).ToDoubleArray(), 1e-5);
    }

    [Fact]
    public void Salt_ReluClipsANegativeEntryOfXY_AndMergesToUReluSigmaV()
    {
        const int rho = 3, rl = 2;
        var layer = Layer(l => new SaltLayer(l), InF, OutF, new SaltConfig { Rank = rho, RLora = rl, RegMultiplier = 0.01 });
        var x = Randn64(4, 5, InF);
        AssertClose(Expected(x, WeightOf(layer), layer), layer.Forward(x).ToDoubleArray(), 1e-12); // exact at init
        Assert.Equal(0.0, layer.Penalty("a").ToDoubleArray()[0]);
        // X Y with one large negative off-diagonal entry at (0, 1) of the (k − ρ) block and a small positive one elsewhere.
        int m = K - rho;
        var xs = new double[m * rl];
        var ys = new double[rl * m];
        xs[0 * rl + 0] = 1; ys[0 * m + 1] = -50;   // (XY)[0, 1] = −50: Σ'[ρ, ρ + 1] is clipped to 0
        xs[2 * rl + 1] = 1; ys[1 * m + 3] = 0.25;  // (XY)[2, 3] = 0.25 stays
        Set(layer.X("a")!, xs);
        Set(layer.Y("a")!, ys);
        var alpha = new[] { 1.5, -0.2, 1.0 };       // α₁ S₁ < 0: clipped too
        Set(layer.Scale("a"), alpha);
        Set(layer.Shift("a"), new[] { 0.1, 0.0, -0.05 });
        // U ReLU(Σ') Vᵀ by loops from the stored factors.
        var u = layer.U("a").ToDoubleArray();
        var s = layer.S("a").ToDoubleArray();
        var vh = layer.Vh("a").ToDoubleArray();
        var sigma = new double[K * K];
        double[] beta = [0.1, 0.0, -0.05];
        for (int i = 0; i < rho; i++) sigma[i * K + i] = alpha[i] * s[i] + beta[i];
        for (int i = rho; i < K; i++) sigma[i * K + i] = s[i];
        sigma[rho * K + rho + 1] += -50;
        sigma[(rho + 2) * K + rho + 3] += 0.25;
        var relu = sigma.Select(v => Math.Max(v, 0)).ToArray();
        Assert.Equal(0.0, relu[rho * K + rho + 1]);
        Assert.Equal(0.0, relu[1 * K + 1]);
        var w = Mul(Mul(u, relu, OutF, K, K), vh, OutF, K, InF);
        var unclipped = Mul(Mul(u, sigma, OutF, K, K), vh, OutF, K, InF);
        Assert.True(w.Zip(unclipped).Max(p => Math.Abs(p.First - p.Second)) > 1, "the ReLU must change the weight here");
        var expected = Expected(x, Matrix<double>.Build.DenseOfRowMajor(OutF, InF, w), layer);
        AssertClose(expected, layer.Forward(x).ToDoubleArray(), 1e-5);
        // Merge writes U ReLU(Σ') Vᵀ (up to W0 − U S Vᵀ, rounding), unmerge restores W0.
        var w0 = layer.BaseLayer.Weight.ToDoubleArray();
        layer.Merge();
        AssertClose(w, layer.BaseLayer.Weight.ToDoubleArray(), 1e-5);
        layer.Unmerge();
        AssertClose(w0, layer.BaseLayer.Weight.ToDoubleArray(), 1e-12);
        // reg_loss = ‖α ⊙ S_top + β − S_top‖ + ‖X Y‖_F.
        double top = Math.Sqrt(Enumerable.Range(0, rho).Sum(i => Math.Pow(alpha[i] * s[i] + beta[i] - s[i], 2)));
        AssertClose([top + Math.Sqrt(50 * 50 + 0.25 * 0.25)], layer.Penalty("a").ToDoubleArray(), 1e-12);
    }

    [Fact]
    public void Salt_RegulariserThroughTheModel_IsTheMultiplierTimesTheLayerSum_AndAbsentAtZero()
    {
        var peft = Peft.Apply(TinyGpt(), new SaltConfig { RatioSalt = 0.5, RLora = 2, RegMultiplier = 0.25, TargetModules = ["qkv", "fc"], Seed = 3 });
        var layers = peft.AdapterLayers().Select(l => l.Layer).OfType<SaltLayer>().ToList();
        Assert.Equal(4, layers.Count);
        foreach (var (p, i) in layers.SelectMany(l => l.Parameters().Where(t => t.RequiresGrad)).Select((p, i) => (p, i))) Scramble(p, (ulong)(10 + i), 0.2);
        double sum = layers.Sum(l => l.Penalty("default").ToDoubleArray()[0]);
        Assert.True(sum > 0);
        Assert.Equal(0.25 * sum, peft.RegularizationLoss()!.ToDoubleArray()[0], 5);
        Assert.Null(Peft.Apply(TinyGpt(), new SaltConfig { TargetModules = ["qkv"], Seed = 3 }).RegularizationLoss());
    }

    [Theory]
    [InlineData(3, OutF, InF)]
    [InlineData(5, InF, OutF)]
    public void Loldu_StartsAtW0_TrainsRValues_AndMergesToItsForward(int r, int inF, int outF)
    {
        var layer = Layer(l => new LolduLayer(l), inF, outF, new LolduConfig { Rank = r, LoraAlpha = 2 });
        Assert.Equal(r, Trainable(layer));
        var w0 = layer.BaseLayer.Weight.ToDoubleArray();
        // The factors: with r = k (and α = k, so σ = 1) the stored P, L, D, U rebuild W0 = P L diag(D) U by loops; U
        // has a unit diagonal and P is a permutation.
        var full = Layer(l => new LolduLayer(l), inF, outF, new LolduConfig { Rank = Math.Min(inF, outF), LoraAlpha = Math.Min(inF, outF) });
        var order = full.RowOrder("a").ToArray<long>();
        int k = Math.Min(inF, outF);
        var l = full.L("a").ToDoubleArray();
        var d = full.D("a").ToDoubleArray();
        var u = full.Ur("a").ToDoubleArray();
        var rebuilt = new double[outF * inF];
        for (int i = 0; i < outF; i++)
            for (int j = 0; j < inF; j++)
                for (int t = 0; t < k; t++) rebuilt[i * inF + j] += l[order[i] * k + t] * d[t] * u[t * inF + j];
        AssertClose(w0, rebuilt, 1e-5); // σ = α/r = 1 here
        for (int t = 0; t < k; t++) Assert.Equal(1.0, u[t * inF + t], 6);
        Assert.Equal(outF, order.Distinct().Count());
        // W_eff == W0 at init.
        var x = Randn64(4, 5, inF);
        var bias = layer.BaseLayer.Bias!.ToDoubleArray();
        var y0 = NaiveMatMulT(x.ToDoubleArray(), 5, w0, inF, outF).Select((v, i) => v + bias[i % outF]).ToArray();
        AssertClose(y0, layer.Forward(x).ToDoubleArray(), 1e-12);
        Assert.Equal(2.0 / r, layer.Scaling("a").ToDoubleArray()[0], 6); // stored in the weight's Float32, then widened
        // Trained z: the forward is W0 + σ P L_r diag(z − D_r) U_r (by loops), and merging gives the same outputs.
        var z = layer.D("a").ToDoubleArray().Select((v, i) => v * (1 + 0.5 * Math.Cos(i)) + 0.2).ToArray();
        Set(layer.Z("a"), z);
        var lr = layer.L("a").ToDoubleArray();
        var ur = layer.Ur("a").ToDoubleArray();
        var dr = layer.D("a").ToDoubleArray();
        var rows = layer.RowOrder("a").ToArray<long>();
        double sigma = layer.Scaling("a").ToDoubleArray()[0];
        var weff = (double[])w0.Clone();
        for (int i = 0; i < outF; i++)
            for (int j = 0; j < inF; j++)
                for (int t = 0; t < r; t++) weff[i * inF + j] += sigma * lr[rows[i] * r + t] * (z[t] - dr[t]) * ur[t * inF + j];
        var y = NaiveMatMulT(x.ToDoubleArray(), 5, weff, inF, outF).Select((v, i) => v + bias[i % outF]).ToArray();
        AssertClose(y, layer.Forward(x).ToDoubleArray(), 1e-10);
        AssertParameterGradients(layer, () => layer.Forward(x));
        layer.Merge();
        AssertClose(y, layer.Forward(x).ToDoubleArray(), 1e-10);
        AssertClose(weff, layer.BaseLayer.Weight.ToDoubleArray(), 1e-12);
        layer.Unmerge();
        AssertClose(w0, layer.BaseLayer.Weight.ToDoubleArray(), 1e-12);
    }
}
