using Engine.Peft.LowRank;
using Engine.Peft.Retrieval;
using Xunit;
using static Engine.Peft.Tests.TestSupport;

namespace Engine.Peft.Tests.Retrieval;

/// <summary>AutoLoRA (spec seeds-remaining.md §1): the oracles of the weight encoder, the retriever and the gated fusion.</summary>
public class AutoLoraTests
{
    static LoraWeightEncoder Encoder(int dE = 32, int heads = 4, int p = 8, int dS = 16, ulong seed = 1)
    {
        var e = new LoraWeightEncoder(new LoraWeightEncoderOptions(MaxFeatures: 16, Layers: 3, ProjectionDim: p, EncoderDim: dE, OutputDim: dS, Heads: heads, Seed: seed));
        e.To(DType.Float64);
        e.Eval();
        return e;
    }

    /// <summary>A random LoRA with two modules (layers 0 and 2, types q and fc1), in Float64.</summary>
    static List<LoraModuleWeights> RandomLora(ulong seed, int r = 3) =>
    [
        new(0, 0, Randn64(seed, r, 12), Randn64(seed + 100, 10, r), 2.0 / r),
        new(2, 4, Randn64(seed + 200, r, 16), Randn64(seed + 300, 14, r), 2.0 / r),
    ];

    static double MaxDiff(Tensor a, Tensor b) => a.ToDoubleArray().Zip(b.ToDoubleArray(), (x, y) => Math.Abs(x - y)).Max();

    [Fact]
    public void EncoderIsInvariantToTheGaugeRAndBRInverse()
    {
        var encoder = Encoder();
        var lora = RandomLora(5);
        // A well-conditioned R = I + 0.2 N(0, 1) per module.
        var gauged = lora.Select((m, i) =>
        {
            int r = m.A.Size(0);
            var rm = Tensor.Eye(r, dtype: DType.Float64) + Randn64(40 + (ulong)i, r, r) * 0.2;
            return m with { A = rm % m.A, B = m.B % Linalg.Inverse(rm) };
        }).ToList();
        Tensor e1, e2, e3;
        using (Autograd.Autograd.NoGrad())
        {
            e1 = encoder.Encode(lora);
            e2 = encoder.Encode(gauged);
            // Control: scaling A alone changes ΔW, so the embedding must move.
            e3 = encoder.Encode(lora.Select(m => m with { A = m.A * 2 }).ToList());
        }
        Assert.True(MaxDiff(gauged[0].A, lora[0].A) > 0.05, "R must actually change A");
        Assert.True(MaxDiff(e1, e2) < 1e-5, $"E_w(A, B) vs E_w(RA, BR⁻¹): max diff {MaxDiff(e1, e2)}");
        Assert.True(MaxDiff(e1, e3) > 1e-3, "a different ΔW must give a different embedding");
        AssertClose(1.0, (e1 * e1).Sum().Item(), 1e-12, "unit norm");
    }

    [Fact]
    public void EncoderIsInvariantToPermutingRankComponents()
    {
        var encoder = Encoder();
        var lora = RandomLora(9, r: 4);
        int[] perm = [2, 0, 3, 1];
        var permuted = lora.Select(m =>
        {
            var a = Tensor.Stack(perm.Select(i => m.A.Select(0, i)).ToArray(), 0);
            var b = Tensor.Stack(perm.Select(i => m.B.Select(1, i)).ToArray(), 1);
            return m with { A = a, B = b };
        }).ToList();
        using var _ = Autograd.Autograd.NoGrad();
        Assert.True(MaxDiff(encoder.Encode(lora), encoder.Encode(permuted)) < 1e-10);
        // The invariant itself equals (P_outᵀ B A P_in) s computed through ΔW (the reference the encoder avoids).
        var m0 = lora[0];
        var expected = encoder.ProjectionOut.Narrow(0, 0, 10).To(DType.Float64).T % (m0.B % m0.A) % encoder.ProjectionIn.Narrow(0, 0, 12).To(DType.Float64) * m0.Scaling;
        AssertClose(expected, encoder.Invariant(m0), 1e-10, "Φ");
    }

    [Fact]
    public void EncoderRejectsBadModules()
    {
        var encoder = Encoder();
        var bad = new LoraModuleWeights(0, 0, Randn64(1, 3, 12), Randn64(2, 10, 2), 1);
        Assert.Contains("A [r, in] and B [out, r]", Assert.Throws<ArgumentException>(() => encoder.Encode([bad])).Message);
        var layer = new LoraModuleWeights(3, 0, Randn64(1, 2, 12), Randn64(2, 10, 2), 1);
        Assert.Contains("layer index 3", Assert.Throws<ArgumentException>(() => encoder.Encode([layer])).Message);
        var wide = new LoraModuleWeights(0, 0, Randn64(1, 2, 17), Randn64(2, 10, 2), 1);
        Assert.Contains("MaxFeatures", Assert.Throws<ArgumentException>(() => encoder.Encode([wide])).Message);
        Assert.Throws<ArgumentException>(() => new LoraWeightEncoder(new LoraWeightEncoderOptions(16, 2, EncoderDim: 30, Heads: 4)));
    }

    [Fact]
    public void ProjectionsAreSavedFrozenAndRestoredByAStateDict()
    {
        var a = new LoraRetriever(Encoder(seed: 1));
        var b = new LoraRetriever(Encoder(seed: 2));
        var state = a.StateDict();
        Assert.Contains("encoder.p_out", state.Keys);
        Assert.Contains("encoder.p_in", state.Keys);
        Assert.DoesNotContain(a.TrainableParameters(), t => ReferenceEquals(t, a.Encoder.ProjectionOut) || ReferenceEquals(t, a.Encoder.ProjectionIn));
        var lora = RandomLora(3);
        b.LoadStateDict(state);
        using var _ = Autograd.Autograd.NoGrad();
        Assert.Equal(a.Encoder.Encode(lora).ToArray<double>(), b.Encoder.Encode(lora).ToArray<double>());
    }

    static Linear BaseLinear(int inF, int outF, ulong seed)
    {
        var l = new Linear(inF, outF, bias: true, new Generator(seed));
        l.To(DType.Float64);
        return l;
    }

    [Fact]
    public void ZeroGatesGiveExactlyTheUniformMerge()
    {
        int inF = 5, outF = 4, qd = 3;
        var baseLayer = BaseLinear(inF, outF, 2);
        var w0 = baseLayer.Weight.ToDoubleArray();
        var b0 = baseLayer.Bias!.ToDoubleArray();
        var loras = Enumerable.Range(0, 3).Select(j => (A: Randn64(10 + (ulong)j, j + 1, inF), B: Randn64(20 + (ulong)j, outF, j + 1), Scaling: 0.5 * (j + 1))).ToList();
        var fusion = new GatedLoraFusion(baseLayer, loras.Select(l => (l.A, l.B, l.Scaling)).ToList(), qd);
        fusion.To(DType.Float64);
        fusion.Query = Randn64(7, qd);
        var x = Randn64(3, 2, 3, inF);
        var actual = fusion.Forward(x).ToDoubleArray();

        // x W0ᵀ + b0 + Σ_j (1/3) s_j x A_jᵀ B_jᵀ by loops.
        var xs = x.ToDoubleArray();
        int n = 6;
        var expected = NaiveMatMulT(xs, n, w0, inF, outF);
        for (int i = 0; i < expected.Length; i++) expected[i] += b0[i % outF];
        foreach (var (a, b, s) in loras)
        {
            var delta = NaiveProduct(b.ToDoubleArray(), a.ToDoubleArray(), outF, a.Size(0), inF);
            var term = NaiveMatMulT(xs, n, delta, inF, outF);
            for (int i = 0; i < expected.Length; i++) expected[i] += s * term[i] / 3;
        }
        AssertClose(expected, actual, 1e-12, "uniform merge");
        Assert.All(fusion.Gates(x).ToDoubleArray(), g => Assert.Equal(1.0 / 3, g));
        // Only W_g and b_g train.
        Assert.Equal(3 * (inF + qd) + 3, fusion.ParameterCount(trainableOnly: true));
    }

    [Fact]
    public void OneLoraReproducesThePlainLoraLayerBitExactly()
    {
        var layer = StandaloneLayer(l => new LoraLayer(l), 6, 5, new LoraConfig { R = 2, LoraAlpha = 4, InitLoraWeights = LoraInit.Random, Seed = 3 });
        Scramble(layer.LoraB("a"), 11);
        var copy = BaseLinear(6, 5, 99);
        using (Autograd.Autograd.NoGrad())
        {
            copy.Weight.CopyFrom(layer.BaseLayer.Weight);
            copy.Bias!.CopyFrom(layer.BaseLayer.Bias!);
        }
        var fusion = new GatedLoraFusion(copy, [(layer.LoraA("a"), layer.LoraB("a"), layer.Settings("a").Scaling)], 4);
        fusion.To(DType.Float64);
        fusion.Query = Randn64(8, 4);
        Scramble(fusion.Gate.Weight, 12);
        Scramble(fusion.Gate.Bias!, 13);
        var x = Randn64(4, 3, 6);
        using var _ = Autograd.Autograd.NoGrad();
        Assert.Equal(layer.Forward(x).ToArray<double>(), fusion.Forward(x).ToArray<double>());
    }

    [Fact]
    public void SequenceGatesAreSharedAcrossTokensAndPerTokenGatesAreNot()
    {
        var loras = Enumerable.Range(0, 2).Select(j => (Randn64(30 + (ulong)j, 2, 4), Randn64(40 + (ulong)j, 3, 2), 1.0)).ToList();
        foreach (var perToken in new[] { true, false })
        {
            var fusion = new GatedLoraFusion(BaseLinear(4, 3, 1), loras, 2, perToken);
            fusion.To(DType.Float64);
            Scramble(fusion.Gate.Weight, 5);
            var g = fusion.Gates(Randn64(6, 1, 3, 4));
            var first = g.Select(1, 0).ToDoubleArray();
            var last = g.Select(1, g.Size(1) - 1).ToDoubleArray();
            Assert.Equal(!perToken, first.SequenceEqual(last));
        }
    }

    [Fact]
    public void GateGradientsMatchFiniteDifferences()
    {
        var loras = Enumerable.Range(0, 3).Select(j => (Randn64(50 + (ulong)j, 2, 4), Randn64(60 + (ulong)j, 3, 2), 0.7)).ToList();
        var fusion = new GatedLoraFusion(BaseLinear(4, 3, 1), loras, 2);
        fusion.To(DType.Float64);
        fusion.Query = Randn64(3, 2);
        Scramble(fusion.Gate.Weight, 5);
        Scramble(fusion.Gate.Bias!, 6);
        var x = Randn64(7, 2, 3, 4);
        var check = GradCheck.CheckParameters(() => fusion.Forward(x), fusion.NamedParameters());
        Assert.True(check.Passed, check.Message);
    }

    [Fact]
    public void EncoderAndTemperatureGradientsMatchFiniteDifferences()
    {
        var retriever = new LoraRetriever(new LoraWeightEncoder(new LoraWeightEncoderOptions(16, 3, ProjectionDim: 2, EncoderDim: 8, OutputDim: 4, EncoderLayers: 1, Heads: 2, Seed: 4)));
        retriever.To(DType.Float64);
        retriever.Eval();
        List<IReadOnlyList<LoraModuleWeights>> loras = [RandomLora(1, 2), RandomLora(2, 2), RandomLora(3, 2)];
        var text = Randn64(9, 3, 4);
        var check = GradCheck.CheckParameters(() => retriever.ContrastiveLoss(loras, text), retriever.NamedParameters(), perTensor: 6);
        Assert.True(check.Passed, check.Message);
    }

    [Fact]
    public void RetrieveRanksByCosine()
    {
        var library = Tensor.FromArray(new double[,] { { 1, 0 }, { 0, 5 }, { 1, 1 }, { -1, 0 } });
        Assert.Equal([1, 2, 0], LoraRetriever.Retrieve(Tensor.FromArray(new double[] { 0.1, 1 }), library, 3));
        Assert.Equal([3], LoraRetriever.Retrieve(Tensor.FromArray(new double[] { -2, 0.1 }), library, 1));
        Assert.Throws<ArgumentException>(() => LoraRetriever.Retrieve(Tensor.FromArray(new double[] { 1, 0 }), library, 5));
    }

    [Fact]
    public void EachToyLoraRetrievesItselfFromItsDescriptionAfterTraining()
    {
        // 10 random LoRAs; each "description embedding" is a fixed random unit vector.
        var library = Enumerable.Range(0, 10).Select(i => (IReadOnlyList<LoraModuleWeights>)RandomLora(1000 + 17 * (ulong)i, 2)).ToList();
        var text = Randn64(77, 10, 16);
        var retriever = new LoraRetriever(Encoder(dE: 32, heads: 4, dS: 16, seed: 2));
        retriever.To(DType.Float64);
        var losses = retriever.Train(library, text, steps: 150, lr: 3e-3);
        Assert.True(losses[^1] < losses[0] / 4, $"InfoNCE fell only from {losses[0]} to {losses[^1]}");
        Tensor embeddings;
        using (Autograd.Autograd.NoGrad()) embeddings = retriever.Encoder.EncodeAll(library);
        for (int i = 0; i < 10; i++) Assert.Equal(i, LoraRetriever.Retrieve(text.Select(0, i), embeddings, 1)[0]);
    }
}
