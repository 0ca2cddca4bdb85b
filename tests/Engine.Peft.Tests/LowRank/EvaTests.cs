using Engine.Peft.LowRank;
using MathNet.Numerics.LinearAlgebra;
using MathNet.Numerics.LinearAlgebra.Factorization;
using Xunit;
using static Engine.Peft.Tests.TestSupport;

namespace Engine.Peft.Tests.LowRank;

/// <summary>
/// EVA's properties (Paischer et al. 2024, section 3): A's rows are orthonormal and span the top principal directions
/// of the target's inputs (checked against eigenvectors of the centred XᵀX from MathNet), the redistributed ranks
/// spend exactly the budget Σ r with at most round(rho r) per target and may drop a target, whitening divides by the
/// square root of the singular values, the label mask drops positions, and the adapter starts at the base.
/// </summary>
public class EvaTests
{
    const int Rows = 64, In = 16, Hidden = 4;

    // Two Float64 linears, 16 -> 4 -> 6: the second layer's inputs are the first's outputs.
    static (PeftModel Peft, Linear First, Linear Second) TwoLayers()
    {
        var first = new Linear(In, Hidden, bias: true, new Generator(3));
        var second = new Linear(Hidden, 6, bias: true, new Generator(4));
        var model = new Sequential(first, second);
        model.To(DType.Float64);
        return (new PeftModel(model), first, second);
    }

    // Anisotropic rows x = z M + c with a fixed M and offset c: distinct, well separated variances.
    static Tensor[] Batches(int count, ulong seed = 20)
    {
        var mix = Randn64(seed, In, In) * Tensor.FromArray(Enumerable.Range(0, In).Select(i => Math.Pow(0.8, i)).ToArray()).Unsqueeze(1);
        return Enumerable.Range(0, count).Select(b => Randn64(seed + 1 + (ulong)b, Rows, In) % mix + 0.5).ToArray();
    }

    static CalibrationData Data(PeftModel peft, Tensor[] batches) => new(batches.Length, i => peft.Model.Forward(batches[i]).Sum());

    // Eigenvalues (descending) and eigenvectors (rows) of the centred scatter of x [n, f], by MathNet.
    static (double[] Values, double[][] Vectors) NaivePca(Tensor x)
    {
        int n = x.Size(0), f = x.Size(1);
        var m = Matrix<double>.Build.DenseOfRowMajor(n, f, x.ToDoubleArray());
        var mean = m.ColumnSums() / n;
        for (int i = 0; i < n; i++) m.SetRow(i, m.Row(i) - mean);
        var evd = (m.TransposeThisAndMultiply(m)).Evd(Symmetricity.Symmetric);
        var order = Enumerable.Range(0, f).OrderByDescending(i => evd.EigenValues[i].Real).ToArray();
        return (order.Select(i => evd.EigenValues[i].Real).ToArray(), order.Select(i => evd.EigenVectors.Column(i).ToArray()).ToArray());
    }

    static double[] Row(Tensor a, int i) => a.Select(0, i).ToDoubleArray();

    static double Dot(double[] u, double[] v) => u.Zip(v, (p, q) => p * q).Sum();

    static LoraLayer LayerAt(PeftModel peft, int index) => (LoraLayer)((Sequential)peft.Model)[index];

    [Fact]
    public void A_HasOrthonormalRows_ThatAreTheTopPrincipalDirectionsOfTheInputs()
    {
        var (peft, first, _) = TwoLayers();
        var batches = Batches(3);
        var all = Tensor.Concat(batches, 0);
        var hidden = first.Forward(all).Detach();
        // rho = 1: no redistribution, each layer keeps r = 3.
        peft.AddAdapter("eva", new LoraConfig { R = 3, LoraAlpha = 6, TargetModules = ["0", "1"], InitLoraWeights = LoraInit.Eva, EvaConfig = new() { Rho = 1 } }, Data(peft, batches));

        foreach (var (index, inputs) in new[] { (0, all), (1, hidden) })
        {
            var a = LayerAt(peft, index).LoraA("eva");
            Assert.Equal(3, a.Size(0));
            var (_, vectors) = NaivePca(inputs);
            for (int i = 0; i < 3; i++)
            {
                for (int j = 0; j < 3; j++) Assert.Equal(i == j ? 1.0 : 0.0, Dot(Row(a, i), Row(a, j)), 1e-12);
                // The same direction as the i-th eigenvector, up to its sign.
                Assert.Equal(1.0, Math.Abs(Dot(Row(a, i), vectors[i])), 1e-9);
            }
        }
    }

    [Fact]
    public void A_SpansTheSameSpaceWhateverTheBatching()
    {
        var batches = Batches(4);
        var together = new InputPca(In);
        together.Add(Tensor.Concat(batches, 0));
        var apart = new InputPca(In);
        foreach (var b in batches) apart.Add(b);
        apart.Add(Tensor.Zeros([0, In], DType.Float64));
        var (c1, s1, r1) = together.Fit(5);
        var (c2, s2, r2) = apart.Fit(5);
        Assert.Equal(4 * Rows, apart.Count);
        for (int i = 0; i < 5; i++)
        {
            Assert.Equal(s1[i], s2[i], 1e-9 * s1[0]);
            Assert.Equal(r1[i], r2[i], 1e-12);
            // Signs are fixed by the largest entry, so the rows agree without a sign freedom.
            Assert.Equal(Row(c1, i), Row(c2, i), (p, q) => Math.Abs(p - q) < 1e-9);
        }
    }

    [Fact]
    public void Ranks_SpendTheBudgetExactly_WithAtMostRoundRhoRPerTarget_AndAlphaFollowsTheRank()
    {
        var gpt = TinyGpt(seed: 3);
        var ids = new[] { Ids(), Ids().Flip(1), Tensor.FromArray(new long[,] { { 7, 2, 11, 0, 6 }, { 3, 9, 1, 5, 12 } }) };
        var data = new CalibrationData(ids.Length, i => gpt.Forward(ids[i]).Mean());
        var config = new LoraConfig { R = 2, LoraAlpha = 4, TargetModules = ["qkv", "attn.proj", "mlp.fc", "mlp.proj"], InitLoraWeights = LoraInit.Eva, EvaConfig = new() { Rho = 2 } };
        int targets = Peft.Apply(TinyGpt(seed: 3), config with { InitLoraWeights = LoraInit.Default }).AdapterLayers().Count();
        var peft = Peft.Apply(gpt, config, calibration: data);
        var attached = (LoraConfig)peft.PeftConfigs["default"];

        var ranks = peft.AdapterLayers().Select(l => ((LoraLayer)l.Layer).Settings("default")).ToList();
        Assert.Equal(2 * targets, ranks.Sum(s => s.R));
        Assert.All(ranks, s => Assert.InRange(s.R, 1, 4));
        Assert.Contains(ranks, s => s.R != 2);   // the redistribution moves ranks on this model (2,3,2,2,2,2,2,1)   // the redistribution moved something on this model
        foreach (var (path, layer) in peft.AdapterLayers())
        {
            var s = ((LoraLayer)layer).Settings("default");
            Assert.Equal(s.R, ((LoraLayer)layer).LoraA("default").Size(0));
            // adjust_scaling_factors: alpha r_new / r, so the scale alpha / r stays.
            Assert.Equal(4.0 * s.R / 2, s.Alpha, 12);
            Assert.Equal(2.0, s.Scaling, 12);
            Assert.Equal(s.R != 2, attached.RankPattern.ContainsKey(peft.PathOf(path).External));
        }
    }

    [Fact]
    public void ATargetWhoseInputsExplainLittleVariance_GetsRankZero_AndIsNotAdapted()
    {
        var (peft, first, _) = TwoLayers();
        // The second layer sees 4 isotropic features (about 1/4 of its variance each); the first 16 (about 1/16).
        using (Autograd.Autograd.NoGrad())
        {
            first.Weight.CopyFrom(Tensor.Eye(In, null, DType.Float64).Narrow(0, 0, Hidden));
        }
        var batches = Enumerable.Range(0, 4).Select(b => Randn64(40 + (ulong)b, Rows, In)).ToArray();
        peft.AddAdapter("eva", new LoraConfig { R = 2, LoraAlpha = 3, TargetModules = ["0", "1"], InitLoraWeights = LoraInit.Eva }, Data(peft, batches));

        var config = (LoraConfig)peft.PeftConfigs["eva"];
        Assert.Equal(["1"], config.TargetModules!.Names);
        Assert.Equal(new Dictionary<string, int> { ["1"] = 4 }, config.RankPattern);
        Assert.Equal(new Dictionary<string, double> { ["1"] = 6.0 }, config.AlphaPattern);
        Assert.IsType<Linear>(((Sequential)peft.Model)[0]);
        Assert.Equal(4, LayerAt(peft, 1).LoraA("eva").Size(0));
    }

    [Fact]
    public void Whiten_DividesEachComponentByTheSquareRootOfItsSingularValue()
    {
        var batches = Batches(2);
        var (plainPeft, _, _) = TwoLayers();
        var (whitePeft, _, _) = TwoLayers();
        var config = new LoraConfig { R = 3, TargetModules = ["0"], InitLoraWeights = LoraInit.Eva, EvaConfig = new() { Rho = 1 } };
        plainPeft.AddAdapter("eva", config, Data(plainPeft, batches));
        whitePeft.AddAdapter("eva", config with { EvaConfig = new() { Rho = 1, Whiten = true } }, Data(whitePeft, batches));
        var (values, _) = NaivePca(Tensor.Concat(batches, 0));
        var plain = LayerAt(plainPeft, 0).LoraA("eva");
        var white = LayerAt(whitePeft, 0).LoraA("eva");
        for (int i = 0; i < 3; i++)
        {
            // The singular value of the centred stacked inputs is sqrt(eigenvalue of the scatter).
            double factor = 1 / Math.Sqrt(Math.Sqrt(values[i]));
            Assert.Equal(Row(plain, i).Select(v => v * factor), Row(white, i), (p, q) => Math.Abs(p - q) < 1e-12);
        }
    }

    [Fact]
    public void LabelMask_DropsThePositionsWithTheMaskValue()
    {
        var clean = Batches(2);
        // Each batch gets 8 outlier rows, labelled -100: with the mask EVA must see only the clean rows.
        var noisy = clean.Select((b, i) => Tensor.Concat([b, Randn64(90 + (ulong)i, 8, In) * 100.0], 0)).ToArray();
        var labels = Tensor.FromArray(Enumerable.Range(0, Rows + 8).Select(p => p < Rows ? (long)p : -100L).ToArray());
        var config = new LoraConfig { R = 2, TargetModules = ["0"], InitLoraWeights = LoraInit.Eva, EvaConfig = new() { Rho = 1 } };

        LoraLayer Run(Tensor[] batches, bool labelled, bool mask)
        {
            var (peft, _, _) = TwoLayers();
            var data = Data(peft, batches) with { Labels = labelled ? _ => labels : null };
            peft.AddAdapter("eva", config with { EvaConfig = new() { Rho = 1, UseLabelMask = mask } }, data);
            return LayerAt(peft, 0);
        }
        var expected = Run(clean, labelled: false, mask: true).LoraA("eva").ToDoubleArray();
        Assert.Equal(expected, Run(noisy, labelled: true, mask: true).LoraA("eva").ToDoubleArray(), (p, q) => Math.Abs(p - q) < 1e-9);
        // Without the mask (or without labels) the outliers dominate.
        Assert.NotEqual(expected, Run(noisy, labelled: true, mask: false).LoraA("eva").ToDoubleArray(), (p, q) => Math.Abs(p - q) < 1e-3);
        Assert.NotEqual(expected, Run(noisy, labelled: false, mask: true).LoraA("eva").ToDoubleArray(), (p, q) => Math.Abs(p - q) < 1e-3);
    }

    [Fact]
    public void TheAdapterStartsAtTheBase()
    {
        var gpt = TinyGpt(seed: 6);
        var expected = gpt.Forward(Ids()).ToDoubleArray();
        var data = new CalibrationData(2, i => gpt.Forward(i == 0 ? Ids() : Ids().Flip(1)).Mean());
        var peft = Peft.Apply(gpt, new LoraConfig { R = 2, TargetModules = ["qkv", "mlp.fc"], InitLoraWeights = LoraInit.Eva }, calibration: data);
        Assert.Equal(expected, peft.Forward(Ids()).ToDoubleArray());
        Assert.All(peft.AdapterLayers(), l => Assert.True(((LoraLayer)l.Layer).LoraA("default").Abs().Max().Item() > 0.1));
    }

    [Fact]
    public void EarlierAdapters_AreDisabledWhileTheInputsAreRecorded_AsPeftsDisableAdapterContext()
    {
        var batches = Batches(2);
        var config = new LoraConfig { R = 2, TargetModules = ["1"], InitLoraWeights = LoraInit.Eva, EvaConfig = new() { Rho = 1 } };
        var (plain, _, _) = TwoLayers();
        plain.AddAdapter("eva", config, Data(plain, batches));
        var (adapted, _, _) = TwoLayers();
        adapted.AddAdapter("first", new LoraConfig { R = 2, TargetModules = ["0"], InitLoraWeights = LoraInit.Random });
        adapted.AddAdapter("eva", config, Data(adapted, batches));
        Assert.Equal(LayerAt(plain, 1).LoraA("eva").ToDoubleArray(), LayerAt(adapted, 1).LoraA("eva").ToDoubleArray());
        // The first adapter is active again afterwards.
        Assert.False(LayerAt(adapted, 0).Disabled);
    }

    [Fact]
    public void DistributeRanks_TakesTheLargestRatiosOverAllTargets_AndGivesARepresentativeTheLargestRankOfItsGroup()
    {
        Assert.Equal([1, 2], EvaInit.DistributeRanks([[0.5, 0.2, 0.1], [0.4, 0.3, 0.05]], 3));
        Assert.Equal([3, 0], EvaInit.DistributeRanks([[0.5, 0.4, 0.3], [0.2, 0.1]], 3));
        // Ties go to the earlier target.
        Assert.Equal([2, 1], EvaInit.DistributeRanks([[0.3, 0.3], [0.3, 0.3]], 3));
        // Target 0 has the inputs of target 1, which represents the group: the larger rank moves to it.
        Assert.Equal([0, 2], EvaInit.DistributeRanks([[0.5, 0.4], [0.3, 0.2]], 2, [1, 1]));
    }

    [Fact]
    public void Config_IsRefusedByName_AndRoundTripsWithPeftsFieldNames()
    {
        Assert.Contains("eva_config.rho", Assert.Throws<ArgumentException>(() => new LoraConfig { InitLoraWeights = LoraInit.Eva, EvaConfig = new() { Rho = 0.5 } }.Validate()).Message);
        Assert.Contains("eva_config.tau", Assert.Throws<ArgumentException>(() => new LoraConfig { InitLoraWeights = LoraInit.Eva, EvaConfig = new() { Tau = 1.5 } }.Validate()).Message);
        var (peft, _, _) = TwoLayers();
        Assert.Contains("CalibrationData", Assert.Throws<ArgumentException>(() => peft.AddAdapter("eva", new LoraConfig { TargetModules = ["0"], InitLoraWeights = LoraInit.Eva })).Message);
        // round(rho r) = 6 components of the second layer's 4 input features.
        Assert.Contains("input features", Assert.Throws<ArgumentException>(() =>
            peft.AddAdapter("eva", new LoraConfig { R = 3, TargetModules = ["1"], InitLoraWeights = LoraInit.Eva }, Data(peft, Batches(1)))).Message);

        var config = new LoraConfig { InitLoraWeights = LoraInit.Eva, TargetModules = ["0"], EvaConfig = new() { Rho = 1.5, Tau = 0.9, UseLabelMask = false, LabelMaskValue = -1, Whiten = true, AdjustScalingFactors = false } };
        var json = config.ToJson();
        Assert.Equal("eva", (string)json["init_lora_weights"]!);
        var eva = json["eva_config"]!.AsObject();
        Assert.Equal(["rho", "tau", "use_label_mask", "label_mask_value", "whiten", "adjust_scaling_factors"], eva.Select(p => p.Key));
        Assert.Equal(config.EvaConfig, ((LoraConfig)PeftConfig.FromJson(json)).EvaConfig);
    }
}
