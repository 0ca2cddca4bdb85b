using Engine.Autograd;
using Xunit;

namespace Engine.Nn.Tests.Search;

/// <summary>TangleNAS (spec §6): entangled mixing, the supernet's one-hot slices, the samplers and their gradients.</summary>
public class TangleNasTests
{
    static readonly (int Out, int In)[] Slices = [(3, 4), (5, 6), (2, 2)];

    static double MaxDiff(Tensor a, Tensor b)
    {
        var x = a.To(DType.Float64).ToArray<double>();
        var y = b.To(DType.Float64).ToArray<double>();
        Assert.Equal(x.Length, y.Length);
        return x.Zip(y, (p, q) => Math.Abs(p - q)).Max();
    }

    static Tensor Vector(params double[] v) => Tensor.FromArray(v, [v.Length]);

    [Fact]
    public void EntangledLinear_WithOneHotWeights_EqualsTheStandaloneSliceLinear()
    {
        var layer = new EntangledLinear(Slices, bias: true, new Generator(3));
        layer.Bias!.Detach().CopyFrom(Tensor.Randn([layer.OutMax], generator: new Generator(4)));
        var x = Tensor.Randn([2, 3, layer.InMax], generator: new Generator(5));
        for (int c = 0; c < Slices.Length; c++)
        {
            var onehot = new double[Slices.Length];
            onehot[c] = 1;
            var y = layer.Forward(x, Vector(onehot).To(DType.Float32));
            // The reference: a plain x[..., :in_c] W_cᵀ + b_c, zero-padded to out_max, by loops.
            var (o, i) = Slices[c];
            var w = layer.Weight.ToArray<float>();
            var b = layer.Bias!.ToArray<float>();
            var xs = x.ToArray<float>();
            var expected = new float[2 * 3 * layer.OutMax];
            for (int r = 0; r < 6; r++)
                for (int j = 0; j < o; j++)
                {
                    double s = b[j];
                    for (int k = 0; k < i; k++) s += xs[r * layer.InMax + k] * w[j * layer.InMax + k];
                    expected[r * layer.OutMax + j] = (float)s;
                }
            Assert.True(MaxDiff(y, Tensor.FromArray(expected, [2, 3, layer.OutMax])) < 1e-6, $"choice {c}");
        }
    }

    [Fact]
    public void EntangledLinear_MixedWeight_IsTheWeightedSumOfPaddedSlices()
    {
        var layer = new EntangledLinear(Slices, bias: false, new Generator(1));
        var w = Vector(0.2, 0.5, 0.3).To(DType.Float32);
        var mixed = layer.MixedWeight(w).ToArray<float>();
        var full = layer.Weight.ToArray<float>();
        for (int r = 0; r < layer.OutMax; r++)
            for (int k = 0; k < layer.InMax; k++)
            {
                double s = 0;
                double[] wc = [0.2, 0.5, 0.3];
                for (int c = 0; c < Slices.Length; c++)
                    if (r < Slices[c].Out && k < Slices[c].In) s += wc[c] * full[r * layer.InMax + k];
                Assert.True(Math.Abs(s - mixed[r * layer.InMax + k]) < 1e-6, $"entry ({r}, {k})");
            }
    }

    [Fact]
    public void EntangledLinear_ChoiceWeightGradient_IsTheInnerProductWithThePaddedSlice()
    {
        // ∂L/∂w_c = ⟨∂L/∂W̄, pad0(W_c)⟩_F + ⟨∂L/∂b̄, pad0(b_c)⟩ (spec §6), with ∂L/∂W̄ from a separate leaf W̄.
        var layer = new EntangledLinear(Slices, bias: true, new Generator(2));
        layer.To(DType.Float64);
        layer.Bias!.Detach().CopyFrom(Tensor.Randn([layer.OutMax], dtype: DType.Float64, generator: new Generator(6)));
        var x = Tensor.Randn([4, layer.InMax], dtype: DType.Float64, generator: new Generator(7));
        var target = Tensor.Randn([4, layer.OutMax], dtype: DType.Float64, generator: new Generator(8));
        var w = Vector(0.1, 0.6, 0.3);
        w.RequiresGrad = true;
        Engine.Autograd.Autograd.Backward((layer.Forward(x, w) * target).Sum());

        var wbar = layer.MixedWeight(w.Detach()).Detach();
        var bbar = layer.MixedBias(w.Detach())!.Detach();
        wbar.RequiresGrad = true;
        bbar.RequiresGrad = true;
        Engine.Autograd.Autograd.Backward(((x.MatMul(wbar.T) + bbar) * target).Sum());
        var gW = wbar.Grad!.ToArray<double>();
        var gb = bbar.Grad!.ToArray<double>();
        var W = layer.Weight.Detach().ToArray<double>();
        var b = layer.Bias!.Detach().ToArray<double>();
        var analytic = w.Grad!.ToArray<double>();
        for (int c = 0; c < Slices.Length; c++)
        {
            double inner = 0;
            for (int r = 0; r < Slices[c].Out; r++)
            {
                inner += gb[r] * b[r];
                for (int k = 0; k < Slices[c].In; k++) inner += gW[r * layer.InMax + k] * W[r * layer.InMax + k];
            }
            Assert.True(Math.Abs(inner - analytic[c]) < 1e-10, $"choice {c}: {analytic[c]} vs {inner}");
        }
    }

    static GptSupernetConfig Tiny => new(VocabSize: 7, ContextLength: 6, EmbedChoices: [4, 8], HeadChoices: [1, 2], MlpRatioChoices: [1, 2], LayerChoices: [1, 2]);

    [Fact]
    public void Supernet_ArchGradients_PassGradCheckWithTheDartsSampler()
    {
        var net = new GptSupernet(Tiny, new Generator(11)).ToPrecision(DType.Float64);
        net.Eval();
        var ids = Tensor.FromArray(new long[] { 1, 2, 3, 4, 0, 5, 6, 1 }, [2, 4]);
        var targets = Tensor.FromArray(new long[] { 2, 3, 4, 0, 5, 6, 1, 2 }, [2, 4]);
        var sampler = new DartsSampler();
        // Larger α than the 1e-3 init, so the weights are far from uniform.
        var alphas = net.ArchParameters.Select((a, i) =>
        {
            var t = Tensor.Randn(a.Shape.ToArray(), dtype: DType.Float64, generator: new Generator(20 + (ulong)i));
            t.RequiresGrad = true;
            return t;
        }).ToArray();
        GradCheck.Assert(a => Losses.CrossEntropy(net.Forward(ids, new ArchitectureWeights(sampler.Weights(a[0]), sampler.Weights(a[1]), sampler.Weights(a[2]), sampler.Weights(a[3]))), targets), alphas);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Supernet_WithOneHotWeights_EqualsAStandaloneGptBuiltFromTheCopiedSlices(bool weightsNeedGradients)
    {
        var config = GptSupernetConfig.Names(vocabSize: 9, contextLength: 6);
        var net = new GptSupernet(config, new Generator(5)).ToPrecision(DType.Float64);
        // Non-trivial LayerNorms and biases, so a wrong slice shows.
        foreach (var (name, q) in net.NamedParameters())
            if (name.Contains("ln") || name.EndsWith("bias")) q.Detach().CopyFrom(Tensor.Randn(q.Shape.ToArray(), dtype: DType.Float64, generator: new Generator((ulong)name.Length + 40)) * 0.5 + (name.EndsWith("weight") ? 1 : 0));
        net.Eval();
        var arch = new SupernetArchitecture(Embed: 48, Layers: 3, Heads: [4, 4, 4, 4], MlpRatios: [2, 2, 2, 2]);
        var w = ArchitectureWeights.OneHot(config, arch, DType.Float64);
        if (weightsNeedGradients)
            foreach (var t in new[] { w.Layers, w.Embed, w.Heads, w.Mlp }) t.RequiresGrad = true;

        int e = arch.Embed;
        var gpt = new Gpt(new GptConfig(9, 6, e, arch.Layers, Heads: 4, MlpRatio: 2), new Generator(0));
        gpt.To(DType.Float64);
        gpt.Eval();
        var p = gpt.NamedParameters().ToDictionary(x => x.Name, x => x.Parameter);
        var s = net.NamedParameters().ToDictionary(x => x.Name, x => x.Parameter.Detach());
        Tensor Cols(string n, int k) => s[n].Narrow(-1, 0, k);
        Tensor Block(string n, int rows, int cols) => s[n].Narrow(0, 0, rows).Narrow(1, 0, cols);
        p["tok.weight"].Detach().CopyFrom(Cols("tok", e));
        p["pos.weight"].Detach().CopyFrom(Cols("pos", e));
        p["ln_f.weight"].Detach().CopyFrom(Cols("ln_f.weight", e));
        p["ln_f.bias"].Detach().CopyFrom(Cols("ln_f.bias", e));
        for (int l = 0; l < arch.Layers; l++)
        {
            string g = $"blocks.{l}.", b = $"blocks.{l}.";
            foreach (var ln in new[] { "ln1", "ln2" })
            {
                p[g + ln + ".weight"].Detach().CopyFrom(Cols(b + ln + ".weight", e));
                p[g + ln + ".bias"].Detach().CopyFrom(Cols(b + ln + ".bias", e));
            }
            p[g + "attn.qkv.weight"].Detach().CopyFrom(Tensor.Concat(new[] { "q", "k", "v" }.Select(n => Block(b + n + ".weight", e, e)).ToArray(), 0));
            p[g + "attn.qkv.bias"].Detach().CopyFrom(Tensor.Concat(new[] { "q", "k", "v" }.Select(n => Cols(b + n + ".bias", e)).ToArray(), 0));
            p[g + "attn.proj.weight"].Detach().CopyFrom(Block(b + "proj.weight", e, e));
            p[g + "attn.proj.bias"].Detach().CopyFrom(Cols(b + "proj.bias", e));
            p[g + "mlp.fc.weight"].Detach().CopyFrom(Block(b + "fc.weight", 2 * e, e));
            p[g + "mlp.fc.bias"].Detach().CopyFrom(Cols(b + "fc.bias", 2 * e));
            p[g + "mlp.proj.weight"].Detach().CopyFrom(Block(b + "fc_proj.weight", e, 2 * e));
            p[g + "mlp.proj.bias"].Detach().CopyFrom(Cols(b + "fc_proj.bias", e));
        }
        var ids = Tensor.FromArray(new long[] { 1, 2, 3, 4, 5, 6, 8, 7, 0, 1, 2, 3 }, [2, 6]);
        double diff = MaxDiff(net.Forward(ids, w).Detach(), gpt.Forward(ids));
        Assert.True(diff < 1e-6, $"max diff {diff}");
    }

    [Fact]
    public void Argmax_DecodesEachChoiceAgainstItsOwnList()
    {
        // The released code decodes the MLP index modulo the embed list's length (3 here): index 1 of {2, 4} must give 4.
        var net = new GptSupernet(GptSupernetConfig.Names(5, 4), new Generator(1));
        net.AlphaEmbed.Detach().CopyFrom(Tensor.FromArray(new float[] { 0, 0, 1 }, [3]));
        net.AlphaLayers.Detach().CopyFrom(Tensor.FromArray(new float[] { 0, 1, 0 }, [3]));
        net.AlphaMlp.Detach().CopyFrom(Tensor.FromArray(new float[] { 0, 1, 1, 0, 0, 1, 1, 0 }, [4, 2]));
        net.AlphaHeads.Detach().CopyFrom(Tensor.FromArray(new float[] { 1, 0, 0, 1, 1, 0, 0, 1 }, [4, 2]));
        var arch = net.Argmax();
        Assert.Equal(64, arch.Embed);
        Assert.Equal(3, arch.Layers);
        Assert.Equal(new[] { 4, 2, 4, 2 }, arch.MlpRatios);
        Assert.Equal(new[] { 2, 4, 2, 4 }, arch.Heads);
    }

    [Fact]
    public void DirichletDraws_SumToOne_WithMeanAlphaOverItsSum()
    {
        double[] alpha = [0.5, 1.5, 3.0];
        int n = 20000;
        var conc = Tensor.FromArray(Enumerable.Range(0, n).SelectMany(_ => alpha).ToArray(), [n, 3]);
        var z = new DirichletRsample(new Generator(9)).Sample(conc).ToArray<double>();
        for (int r = 0; r < n; r++) Assert.True(Math.Abs(z[3 * r] + z[3 * r + 1] + z[3 * r + 2] - 1) < 1e-12, $"row {r}");
        for (int i = 0; i < 3; i++)
        {
            double mean = Enumerable.Range(0, n).Average(r => z[3 * r + i]);
            Assert.True(Math.Abs(mean - alpha[i] / alpha.Sum()) < 0.01, $"component {i}: mean {mean}");
        }
    }

    [Fact]
    public void DirichletPathwiseGradient_AveragesToTheGradientOfTheMean()
    {
        // d/dα_j E[z_0] = (δ_0j α₀ − α_0) / α₀² (E[z_0] = α_0 / α₀); the rsample's gradient must average to it.
        double[] alpha = [0.7, 2.0, 1.3];
        double a0 = alpha.Sum();
        int n = 20000;
        var conc = Tensor.FromArray(Enumerable.Range(0, n).SelectMany(_ => alpha).ToArray(), [n, 3]);
        conc.RequiresGrad = true;
        var z = new DirichletRsample(new Generator(10)).Sample(conc);
        Engine.Autograd.Autograd.Backward(z.Narrow(1, 0, 1).Sum() / n);
        var g = conc.Grad!.Sum(0).ToArray<double>();
        for (int j = 0; j < 3; j++)
        {
            double expected = ((j == 0 ? a0 : 0) - alpha[0]) / (a0 * a0);
            Assert.True(Math.Abs(g[j] - expected) < 0.01, $"α_{j}: {g[j]} vs {expected}");
        }
    }

    [Theory]
    [InlineData(0.4)]
    [InlineData(2.5)]
    public void GammaPathwiseGradient_AveragesToOne(double a)
    {
        // E[x] = a for x ~ Gamma(a, 1), so E[dx/da] = 1.
        var gamma = new GammaSampling(new Generator(12));
        double mean = Enumerable.Range(0, 20000).Average(_ => DirichletRsample.GammaPathwiseGradient(a, gamma.Gamma(a)));
        Assert.True(Math.Abs(mean - 1) < 0.03, $"mean dx/da {mean}");
        // P(1, x) = 1 − e^{−x} (the exponential CDF), on both branches.
        foreach (var x in new[] { 0.3, 1.9, 7.0 }) Assert.True(Math.Abs(DirichletRsample.RegularizedLowerGamma(1, x) - (1 - Math.Exp(-x))) < 1e-13);
    }

    [Fact]
    public void BadInputs_AreNamedArgumentErrors()
    {
        var layer = new EntangledLinear(Slices);
        Assert.Contains("choice weights [3]", Assert.Throws<ArgumentException>(() => layer.Forward(Tensor.Zeros(1, 6), Tensor.Zeros(2))).Message);
        Assert.Contains("[..., 6]", Assert.Throws<ArgumentException>(() => layer.Forward(Tensor.Zeros(1, 5), Tensor.Zeros(3))).Message);
        Assert.Throws<ArgumentException>(() => new EntangledLinear([]));
        Assert.Contains("not divisible by 4 heads", Assert.Throws<ArgumentException>(() => new GptSupernet(Tiny with { EmbedChoices = [6, 8], HeadChoices = [4] })).Message);
        Assert.Contains("repeat", Assert.Throws<ArgumentException>(() => new GptSupernet(Tiny with { LayerChoices = [1, 1] })).Message);
        Assert.Contains("positive and finite", Assert.Throws<ArgumentException>(() => new DirichletRsample(new Generator(1)).Sample(Vector(1, 0))).Message);
        Assert.Contains("embed width 40", Assert.Throws<ArgumentException>(() => ArchitectureWeights.OneHot(Tiny, new SupernetArchitecture(40, 1, [1, 1], [1, 1]))).Message);
        var net = new GptSupernet(Tiny, new Generator(1));
        var w = net.SampleWeights(new DartsSampler());
        Assert.Contains("heads weights", Assert.Throws<ArgumentException>(() => net.Forward(Tensor.Zeros([1, 2], DType.Int64), w with { Heads = w.Embed })).Message);
        Assert.Contains("context length", Assert.Throws<ArgumentException>(() => net.Forward(Tensor.Zeros([1, 9], DType.Int64), w)).Message);
    }

    [Fact]
    public void EntangledMixFloats_MatchTheCountsFromTheChoiceLists()
    {
        var net = new GptSupernet(GptSupernetConfig.Names(30, 16), new Generator(1));
        long t = 512;
        int[] widths = [32, 48, 64], ratios = [2, 4];
        // Per block: q, k, v, proj over (e, e); fc over (r e, e); fc_proj over (e, r e).
        long entangled = 4 * (2 * (64 * 64 + 64) + t * 64) + 2 * (256 * 64 + 256) + t * 256 + 2 * (64 * 256 + 64) + t * 64;
        long darts = 4 * (widths.Sum(e => (long)e * e + e + t * e) + t * 64)
            + widths.SelectMany(e => ratios.Select(r => (long)r * e * e + r * e + t * r * e)).Sum() + t * 256
            + widths.SelectMany(e => ratios.Select(r => (long)e * r * e + e + t * e)).Sum() + t * 64;
        var (e1, d1) = EntangledMixMemory.Floats(net, t);
        Assert.Equal(4 * entangled, e1);
        Assert.Equal(4 * darts, d1);
        Assert.True(e1 < d1);
    }
}
