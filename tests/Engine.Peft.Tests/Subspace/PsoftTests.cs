using Engine.Nn.Checkpoints;
using Engine.Peft.Subspace;
using Xunit;
using static Engine.Peft.Tests.Subspace.SubspaceTestSupport;
using static Engine.Peft.Tests.TestSupport;

namespace Engine.Peft.Tests.Subspace;

/// <summary>
/// PSOFT: R stays orthogonal while it trains (the paper's point: the principal subspace is rotated, its geometry kept),
/// the Cayley transform and PEFT's Neumann loop, A and B from the SVD, and what its files hold: PEFT's keys, plus the
/// engine's psoft_svd_A and psoft_svd_B, which a PEFT file may lack (rebuilt) unless its SVD was randomised (refused).
/// </summary>
public class PsoftTests
{
    const int InF = 7, OutF = 6;

    static PsoftLayer Psoft(PsoftConfig config) => Layer(l => new PsoftLayer(l), InF, OutF, config);

    [Fact]
    public void Rotation_StaysOrthogonalThroughAdamWSteps_AndTheUpdateKeepsTheSubspace()
    {
        const int r = 4;
        var layer = Psoft(new PsoftConfig { R = r, PsoftAlpha = 4, PsoftMagA = false, PsoftMagB = false });
        var x = Randn64(1, 16, InF);
        var target = Randn64(2, 16, OutF);
        // Only the adapter trains (a standalone layer leaves its base trainable).
        var optimizer = new AdamW(layer.Rotation("a").Parameters(), lr: 0.05);
        for (int step = 0; step < 25; step++)
        {
            optimizer.ZeroGrad();
            (layer.Forward(x) - target).Square().Mean().Backward();
            optimizer.Step();
        }
        var q = layer.Rotation("a").Weight.ToDoubleArray();
        Assert.True(q.Max(Math.Abs) > 0.05, "Q did not move");
        var rot = layer.Rotation("a").Matrix().ToDoubleArray();
        AssertClose(Identity(r), Mul(Transpose(rot, r, r), rot, r, r, r), 1e-12, "RᵀR");
        AssertClose(Identity(r), Mul(rot, Transpose(rot, r, r), r, r, r), 1e-12, "RRᵀ");
        // W + ΔW = W - U_r S_r V_rᵀ + U_r S_r R V_rᵀ: the top-r singular values are unchanged.
        var adapted = Add(layer.BaseLayer.Weight.ToDoubleArray(), layer.DeltaWeight("a").ToDoubleArray());
        var (_, before, _) = Linalg.Svd(layer.BaseLayer.Weight);
        var (_, after, _) = Linalg.Svd(Tensor.FromArray(adapted, [OutF, InF]));
        AssertClose(before.ToDoubleArray(), after.ToDoubleArray(), 1e-6, "singular values");
    }

    [Fact]
    public void ExactCayley_IsIPlusQTimesTheInverseOfIMinusQ_ThenTheMagnitudes()
    {
        const int r = 4;
        var layer = Psoft(new PsoftConfig { R = r, PsoftAlpha = 2, InitWeights = false });
        var rotation = layer.Rotation("a");
        var b = rotation.VectorB!;
        var a = rotation.VectorA!;
        Set(b, [1.5, 0.5, -1, 2]);
        Set(a, [0.25, 1, 3, -0.5]);
        var w = rotation.Weight.ToDoubleArray();
        // Q from the row-major upper triangle: (0,1) (0,2) (0,3) (1,2) (1,3) (2,3).
        var q = new double[r * r];
        for (int i = 0, k = 0; i < r; i++)
            for (int j = i + 1; j < r; j++, k++) { q[i * r + j] = w[k]; q[j * r + i] = -w[k]; }
        var cayley = Mul(Add(Identity(r), q), Inverse(Add(Identity(r), q, -1), r), r, r, r);
        var bv = b.ToDoubleArray();
        var av = a.ToDoubleArray();
        var expected = cayley.Select((v, idx) => bv[idx / r] * v * av[idx % r]).ToArray();
        AssertClose(expected, rotation.Matrix().ToDoubleArray(), 1e-12);

        var rr = Add(expected, Identity(r), -1);
        var delta = Mul(Mul(layer.B("a").ToDoubleArray(), rr, OutF, r, r), layer.A("a").ToDoubleArray(), OutF, r, InF).Select(v => v * 2.0 / r).ToArray();
        AssertClose(delta, layer.DeltaWeight("a").ToDoubleArray(), 1e-12);
        var x = Randn64(3, 2, InF);
        var bias = layer.BaseLayer.Bias!.ToDoubleArray();
        var y = NaiveMatMulT(x.ToDoubleArray(), 2, Add(layer.BaseLayer.Weight.ToDoubleArray(), delta), InF, OutF).Select((v, i) => v + bias[i % OutF]).ToArray();
        AssertClose(y, layer.Forward(x).ToDoubleArray(), 1e-12);
        AssertParameterGradients(layer, () => layer.Forward(x));
    }

    [Theory]
    [InlineData(5, new[] { 1.0, 2, 2, 2, 1 })] // PEFT's default: I + 2Q + 2Q² + 2Q³ + Q⁴
    [InlineData(3, new[] { 1.0, 2, 2, 1 })]    // PEFT's loop adds Q² and then Q³ once t > 2
    [InlineData(2, new[] { 1.0, 2 })]
    [InlineData(1, new[] { 1.0 })]
    public void CayleyNeumann_FollowsPeftsLoop(int terms, double[] coefficients)
    {
        const int r = 3;
        var layer = Psoft(new PsoftConfig { R = r, PsoftAlpha = 3, InitWeights = false, UseCayleyNeumann = true, NumCayleyNeumannTerms = terms, PsoftMagA = false, PsoftMagB = false });
        var w = layer.Rotation("a").Weight.ToDoubleArray();
        double[] q = [0, w[0], w[1], -w[0], 0, w[2], -w[1], -w[2], 0];
        var expected = new double[r * r];
        var power = Identity(r);
        foreach (var c in coefficients)
        {
            expected = Add(expected, power, c);
            power = Mul(power, q, r, r, r);
        }
        AssertClose(expected, layer.Rotation("a").Matrix().ToDoubleArray(), 1e-12);
        var x = Randn64(4, 2, InF);
        AssertParameterGradients(layer, () => layer.Forward(x));
    }

    [Fact]
    public void CayleyNeumannEps_ScalesQIntoTheFrobeniusBall()
    {
        var layer = Psoft(new PsoftConfig { R = 3, PsoftAlpha = 3, UseCayleyNeumann = true, NumCayleyNeumannTerms = 2, CayleyNeumannEps = 0.5, PsoftMagA = false, PsoftMagB = false });
        Set(layer.Rotation("a").Weight, [3, 0, 4]); // ‖Q‖_F = sqrt(2 · 25) ≈ 7.07
        double f = 0.5 / (Math.Sqrt(50) + 1e-12);
        // I + 2 f Q
        double[] expected = [1, 6 * f, 0, -6 * f, 1, 8 * f, 0, -8 * f, 1];
        AssertClose(expected, layer.Rotation("a").Matrix().ToDoubleArray(), 1e-12);
    }

    [Theory]
    [InlineData("psoft_init")]
    [InlineData("pissa_init")]
    public void AAndB_AreTheScaledPrincipalSvdFactors(string init)
    {
        const int r = 2;
        var layer = Psoft(new PsoftConfig { R = r, PsoftAlpha = 6, AbSvdInit = init });
        var a = layer.A("a").ToDoubleArray();
        var b = layer.B("a").ToDoubleArray();
        var w = layer.BaseLayer.Weight.ToDoubleArray();
        // s B A is the best rank-r approximation of W: the residual's top singular value is W's third.
        var sba = Mul(b, a, OutF, r, InF).Select(v => v * 3.0).ToArray();
        var (_, sw, _) = Linalg.Svd(layer.BaseLayer.Weight);
        var (_, sr, _) = Linalg.Svd(Tensor.FromArray(Add(w, sba, -1), [OutF, InF]));
        AssertClose(sw.ToDoubleArray()[r], sr.ToDoubleArray()[0], 1e-6);
        var aat = Mul(a, Transpose(a, r, InF), r, InF, r);
        // (Built from the Float32 layer before it moved to Float64: float rounding.)
        if (init == "psoft_init") AssertClose(Identity(r), aat, 1e-6, "A has orthonormal rows");
        else Assert.True(Math.Abs(aat[1]) < 1e-6 && Math.Abs(aat[0] - sw.ToDoubleArray()[0] / 3) < 1e-6, "A = diag(sqrt(S / s)) Vᵀ");
        // The engine's sign rule: the largest |entry| of each column of B (= U_r times a positive scale) is positive.
        for (int j = 0; j < r; j++)
            Assert.True(Enumerable.Range(0, OutF).Select(i => b[i * r + j]).MaxBy(Math.Abs) > 0);
    }

    [Fact]
    public void DefaultInit_StartsAtTheBase()
    {
        var layer = Psoft(new PsoftConfig { R = 3, PsoftAlpha = 3 });
        Assert.All(layer.Rotation("a").Weight.ToDoubleArray(), v => Assert.Equal(0, v));
        var x = Randn64(5, 3, InF);
        AssertClose(layer.BaseLayer.Forward(x).ToDoubleArray(), layer.Forward(x).ToDoubleArray(), 1e-12);
        var free = Psoft(new PsoftConfig { R = 3, PsoftAlpha = 3, PsoftOrth = false });
        Assert.Equal(Identity(3), free.Rotation("a").Weight.ToDoubleArray());
    }

    static PeftModel<Gpt> Trained(PsoftConfig config)
    {
        var peft = Peft.Apply(TinyGpt(), config);
        Laws.LawCases.Scramble(peft, seed: 5, std: 0.3);
        return peft;
    }

    [Fact]
    public void EngineFiles_HoldAAndB_AndAFileWithoutThemRebuildsTheSameFromTheSvd()
    {
        var config = new PsoftConfig { R = 2, PsoftAlpha = 4, TargetModules = ["qkv", "fc"], Seed = 2 };
        var peft = Trained(config);
        var expected = peft.Forward(Ids()).ToDoubleArray();
        var folder = TempFolder();
        peft.SavePretrained(folder);
        var file = Path.Combine(folder, AdapterFiles.WeightsFileName);
        var tensors = Safetensors.Load(file);
        Assert.Contains(tensors.Keys, k => k.EndsWith(".psoft_svd_A", StringComparison.Ordinal));
        Assert.Contains(tensors.Keys, k => k.EndsWith(".psoft_R.weight", StringComparison.Ordinal));
        Assert.Equal(expected, Peft.FromPretrained(TinyGpt(), folder).Forward(Ids()).ToDoubleArray());

        // PEFT's own file: only psoft_R.*. The engine's SVD of the same base gives the same A and B.
        foreach (var key in tensors.Keys.Where(k => k.Contains(".psoft_svd_")).ToList()) tensors.Remove(key);
        Safetensors.Save(file, tensors, new Dictionary<string, string> { ["format"] = "pt" });
        AssertClose(expected, Peft.FromPretrained(TinyGpt(), folder).Forward(Ids()).ToDoubleArray(), 1e-6);
    }

    [Fact]
    public void LowRankSvdFile_WithoutAAndB_IsRefusedNamingTheMissingKey()
    {
        // torch.svd_lowrank's random projection cannot be replayed: such a file must hold A and B.
        var peft = Trained(new PsoftConfig { R = 2, PsoftAlpha = 4, PsoftSvd = "lowrank", TargetModules = ["fc"], Seed = 2 });
        var folder = TempFolder();
        peft.SavePretrained(folder);
        var expected = peft.Forward(Ids()).ToDoubleArray();
        Assert.Equal(expected, Peft.FromPretrained(TinyGpt(), folder).Forward(Ids()).ToDoubleArray());
        var file = Path.Combine(folder, AdapterFiles.WeightsFileName);
        var tensors = Safetensors.Load(file);
        foreach (var key in tensors.Keys.Where(k => k.Contains(".psoft_svd_")).ToList()) tensors.Remove(key);
        Safetensors.Save(file, tensors, new Dictionary<string, string> { ["format"] = "pt" });
        var e = Assert.Throws<InvalidDataException>(() => Peft.FromPretrained(TinyGpt(), folder));
        Assert.Contains("psoft_svd_A", e.Message);
    }

    [Fact]
    public void TrainedRotation_DependsOnTheSvdSigns()
    {
        // Why A and B are saved: flipping the sign of one singular pair (an equally valid SVD) moves a trained
        // adapter's output, since R' mixes the directions; at the identity init it does not.
        var layer = Psoft(new PsoftConfig { R = 3, PsoftAlpha = 3, InitWeights = false });
        var x = Randn64(6, 2, InF);
        var before = layer.Forward(x).ToDoubleArray();
        var a = layer.A("a").ToDoubleArray();
        var b = layer.B("a").ToDoubleArray();
        for (int i = 0; i < InF; i++) a[i] = -a[i];          // row 0 of A
        for (int i = 0; i < OutF; i++) b[i * 3] = -b[i * 3]; // column 0 of B
        Set(layer.A("a"), a);
        Set(layer.B("a"), b);
        Assert.True(before.Zip(layer.Forward(x).ToDoubleArray(), (p, q) => Math.Abs(p - q)).Max() > 1e-3);
    }

    [Fact]
    public void RankAboveTheWeightsSmallerSide_IsRefused()
    {
        var e = Assert.Throws<ArgumentException>(() => Peft.Apply(TinyGpt(), new PsoftConfig { R = 9, TargetModules = ["qkv"] }));
        Assert.Contains("min(out, in)", e.Message);
    }
}
