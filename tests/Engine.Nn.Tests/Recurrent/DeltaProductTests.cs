using Xunit;
using static Engine.Nn.Tests.TestSupport;

namespace Engine.Nn.Tests.Recurrent;

/// <summary>The DeltaProduct layer: chunked against recurrent form, generation steps, gradients, short convolutions.</summary>
public class DeltaProductTests
{
    const int Width = 8;

    // A Float64 layer with scrambled parameters (so no test leans on the initialisation).
    static DeltaProduct Layer(DeltaProductOptions options, ulong seed = 1)
    {
        var layer = new DeltaProduct(options, new Generator(seed));
        ScrambleAll(layer, seed + 100, 0.5);
        layer.To(DType.Float64);
        return layer;
    }

    // The same parameters under other options (mode or chunk size).
    static DeltaProduct Twin(DeltaProduct layer, DeltaProductOptions options)
    {
        var twin = new DeltaProduct(options);
        twin.To(DType.Float64);
        twin.LoadStateDict(layer.StateDict());
        return twin;
    }

    [Theory]
    [InlineData(DeltaRuleMode.Recurrent)]
    [InlineData(DeltaRuleMode.Chunked)]
    public void Forward_MatchesTheSpecWrittenOutWithScalarLoops(DeltaRuleMode mode)
    {
        // C = 4, H = 2, d_k = d_v = 2, n_h = 2, kernel 2, gate, beta in [0, 2], output gate; one sequence of 3 tokens.
        int cm = 4, h = 2, d = 2, n = 2, kernel = 2, t = 3;
        var layer = Layer(new DeltaProductOptions(cm, h, Householder: n, NegativeEigenvalues: true, ForgetGate: true, ConvSize: kernel, Mode: mode, ChunkSize: 2), 21);
        var x = Randn64(22, 1, t, cm);
        var actual = layer.Forward(x).ToDoubleArray();

        double[] P(Tensor p) => p.ToDoubleArray();
        double Silu(double z) => z / (1 + Math.Exp(-z));
        double Softplus(double z) => Math.Log(1 + Math.Exp(z));
        var xa = P(x);
        // Projection, then the causal depthwise convolution y[t, c] = sum_i w[c, i] u[t - (K - 1) + i, c], then SiLU.
        double[] ConvSilu(Linear proj, ShortConvolution conv)
        {
            int ch = proj.OutFeatures;
            var u = NaiveLinear(xa, t, P(proj.Weight), null, cm, ch);
            var w = P(conv.Weight);
            var y = new double[t * ch];
            for (int i = 0; i < t; i++)
                for (int c = 0; c < ch; c++)
                {
                    double sum = 0;
                    for (int tap = 0; tap < kernel; tap++)
                    {
                        int src = i - (kernel - 1) + tap;
                        if (src >= 0) sum += w[c * kernel + tap] * u[src * ch + c];
                    }
                    y[i * ch + c] = Silu(sum);
                }
            return y;
        }
        double[] L2(double[] a, int offset) { double norm = Math.Sqrt(a[offset] * a[offset] + a[offset + 1] * a[offset + 1] + 1e-6); return [a[offset] / norm, a[offset + 1] / norm]; }
        var q = ConvSilu(layer.QProj, layer.QConv!);
        var k = ConvSilu(layer.KProj, layer.KConv!);
        var v = ConvSilu(layer.VProj, layer.VConv!);
        var betaLogits = NaiveLinear(xa, t, P(layer.BProj.Weight), null, cm, n * h);
        var a = NaiveLinear(xa, t, P(layer.AProj!.Weight), null, cm, h);
        var gate = NaiveLinear(xa, t, P(layer.GProj!.Weight), null, cm, h * d);
        double[] aLog = P(layer.ALog!), dtBias = P(layer.DtBias!), normWeight = P(layer.ONorm.Weight);

        var mixed = new double[t * h * d];
        for (int head = 0; head < h; head++)
        {
            var s = new double[d, d];
            for (int i = 0; i < t; i++)
            {
                double alpha = Math.Exp(-Math.Exp(aLog[head]) * Softplus(a[i * h + head] + dtBias[head]));
                for (int r = 0; r < d; r++) for (int c = 0; c < d; c++) s[r, c] *= alpha;
                for (int j = 0; j < n; j++)
                {
                    // Step j's key, value and beta are the j-th block of their projections: channel (j H + head) d + e.
                    var kj = L2(k, i * n * h * d + (j * h + head) * d);
                    var vj = new[] { v[i * n * h * d + (j * h + head) * d], v[i * n * h * d + (j * h + head) * d + 1] };
                    double bj = 2 / (1 + Math.Exp(-betaLogits[i * n * h + j * h + head]));
                    var next = new double[d, d];
                    for (int r = 0; r < d; r++)
                        for (int c = 0; c < d; c++)
                        {
                            double pred = 0;
                            for (int m = 0; m < d; m++) pred += kj[m] * s[m, c];
                            next[r, c] = s[r, c] + bj * kj[r] * (vj[c] - pred);
                        }
                    s = next;
                }
                var qi = L2(q, (i * h + head) * d).Select(z => z / Math.Sqrt(d)).ToArray();
                var o = new double[d];
                for (int c = 0; c < d; c++) for (int r = 0; r < d; r++) o[c] += s[r, c] * qi[r];
                // RMSNorm per head, then the SiLU output gate.
                double rms = Math.Sqrt(o.Select(z => z * z).Average() + layer.Options.NormEps);
                for (int c = 0; c < d; c++)
                    mixed[(i * h + head) * d + c] = o[c] / rms * normWeight[c] * Silu(gate[i * h * d + head * d + c]);
            }
        }
        var expected = NaiveLinear(mixed, t, P(layer.OProj.Weight), null, h * d, cm);
        AssertClose(expected, actual, 1e-10);
    }

    public static TheoryData<int, int, int, bool, bool> ChunkCases()
    {
        var data = new TheoryData<int, int, int, bool, bool>();
        foreach (int chunk in new[] { 2, 4, 8 })
            foreach (int t in new[] { 1, 5, 8, 13 })
                foreach (int n in new[] { 1, 2 })
                    foreach (bool gate in new[] { false, true })
                        foreach (bool negative in new[] { false, true })
                            data.Add(chunk, t, n, gate, negative);
        return data;
    }

    [Theory]
    [MemberData(nameof(ChunkCases))]
    public void Chunked_EqualsRecurrent_OutputsAndGradientsForInputAndParameters(int chunk, int t, int n, bool gate, bool negative)
    {
        var options = new DeltaProductOptions(Width, 2, Householder: n, NegativeEigenvalues: negative, ForgetGate: gate, Mode: DeltaRuleMode.Chunked, ChunkSize: chunk);
        var chunked = Layer(options, (ulong)(chunk * 100 + t));
        var recurrent = Twin(chunked, options with { Mode = DeltaRuleMode.Recurrent });
        var x = Randn64(7, 2, t, Width).RequireGrad();
        var y1 = recurrent.Forward(x);
        var y2 = chunked.Forward(x);
        Assert.Equal(new[] { 2, t, Width }, y2.Shape);
        AssertClose(y1, y2, 1e-9, "output");

        var w = Randn64(8, y1.Shape);
        var p1 = recurrent.NamedParameters().ToList();
        var p2 = chunked.NamedParameters().ToList();
        var g1 = Autograd.Autograd.Grad((y1 * w).Sum(), [x, .. p1.Select(p => p.Parameter)]);
        var g2 = Autograd.Autograd.Grad((y2 * w).Sum(), [x, .. p2.Select(p => p.Parameter)]);
        AssertClose(g1[0], g2[0], 1e-8, "d/dx");
        for (int i = 0; i < p1.Count; i++) AssertClose(g1[i + 1], g2[i + 1], 1e-8, $"d/d{p1[i].Name}");
    }

    [Theory]
    [InlineData(DeltaRuleMode.Chunked, 1, false, 4)]
    [InlineData(DeltaRuleMode.Chunked, 2, true, 4)]
    [InlineData(DeltaRuleMode.Recurrent, 2, true, 4)]
    [InlineData(DeltaRuleMode.Chunked, 2, true, 0)]
    [InlineData(DeltaRuleMode.Chunked, 1, true, 1)]
    public void Step_EqualsTheFullForward_FromScratchAndAfterAPrompt(DeltaRuleMode mode, int n, bool gate, int convSize)
    {
        var layer = Layer(new DeltaProductOptions(Width, 2, Householder: n, NegativeEigenvalues: true, ForgetGate: gate, ConvSize: convSize, Mode: mode, ChunkSize: 4), 3);
        int t = 9;
        var x = Randn64(9, 2, t, Width);
        var full = layer.Forward(x);

        var state = layer.InitialState(2);
        var steps = Enumerable.Range(0, t).Select(i => layer.Step(x.Select(1, i), state).Unsqueeze(1)).ToArray();
        AssertClose(full, Tensor.Concat(steps, 1), 1e-10, "steps from scratch");
        Assert.Equal(t, state.Position);

        // A prompt of 5 tokens through the chosen form, then one token at a time.
        var resumed = layer.InitialState(2);
        var prompt = layer.Forward(x.Narrow(1, 0, 5), resumed);
        var rest = Enumerable.Range(5, t - 5).Select(i => layer.Step(x.Select(1, i), resumed).Unsqueeze(1));
        AssertClose(full, Tensor.Concat([prompt, .. rest], 1), 1e-10, "prompt then steps");
    }

    [Fact]
    public void Chunked_EqualsRecurrent_InFloat32OverManyChunksWithStrongDecay()
    {
        // Default initialisation (decay rates A up to 16), beta in [0, 2], 200 tokens x 2 steps in chunks of 16.
        var options = new DeltaProductOptions(16, 2, Householder: 2, NegativeEigenvalues: true, ForgetGate: true, ChunkSize: 16);
        var chunked = new DeltaProduct(options, new Generator(17));
        var recurrent = new DeltaProduct(options with { Mode = DeltaRuleMode.Recurrent });
        recurrent.LoadStateDict(chunked.StateDict());
        var x = Randn(18, 1, 200, 16) * 3;
        var y1 = recurrent.Forward(x);
        var y2 = chunked.Forward(x);
        Assert.Equal(DType.Float32, y2.DType);
        Assert.All(y2.ToDoubleArray(), value => Assert.True(double.IsFinite(value)));
        AssertClose(y1, y2, 1e-4);
    }

    [Theory]
    [InlineData(DeltaRuleMode.Chunked, 2, true, true)]
    [InlineData(DeltaRuleMode.Recurrent, 1, false, false)]
    public void DeltaProduct_GradientsMatchFiniteDifferences(DeltaRuleMode mode, int n, bool gate, bool negative)
    {
        var layer = Layer(new DeltaProductOptions(6, 2, Householder: n, NegativeEigenvalues: negative, ForgetGate: gate, ConvSize: 3, Mode: mode, ChunkSize: 3), 5);
        var x = Randn64(11, 2, 4, 6);
        AssertInputGradients(xs => layer.Forward(xs[0]), x);
        AssertParameterGradients(layer, () => layer.Forward(x), perTensor: 6);
    }

    [Fact]
    public void WithoutConvolutionAndOutputGate_TheLayerHasOnlyTheProjectionsAndTheNorm()
    {
        var layer = new DeltaProduct(new DeltaProductOptions(Width, 2, ConvSize: 0, OutputGate: false));
        Assert.Equal(["q_proj.weight", "k_proj.weight", "v_proj.weight", "b_proj.weight", "o_norm.weight", "o_proj.weight"],
            layer.NamedParameters().Select(p => p.Name));
        var x = Randn(12, 1, 3, Width);
        Assert.Equal(new[] { 1, 3, Width }, layer.Forward(x).Shape);
    }

    [Fact]
    public void ShortConvolution_IsACausalDepthwiseConvolutionAndContinuesFromItsHistory()
    {
        int c = 3, k = 4, t = 6;
        var conv = new ShortConvolution(c, k, new Generator(13));
        conv.To(DType.Float64);
        var x = Randn64(14, 2, t, c);
        var (y, history) = conv.Forward(x, null);
        double[] xa = x.ToDoubleArray(), wa = conv.Weight.ToDoubleArray();
        var expected = new double[2 * t * c];
        for (int b = 0; b < 2; b++)
            for (int i = 0; i < t; i++)
                for (int ch = 0; ch < c; ch++)
                    for (int tap = 0; tap < k; tap++)
                    {
                        int source = i - (k - 1) + tap;
                        if (source >= 0) expected[(b * t + i) * c + ch] += wa[ch * k + tap] * xa[(b * t + source) * c + ch];
                    }
        AssertClose(expected, y.ToDoubleArray(), 1e-12, "convolution");
        AssertClose(x.Narrow(1, t - (k - 1), k - 1), history, 0, "history");

        // Two pieces with the history carried over equal one pass.
        var (first, h1) = conv.Forward(x.Narrow(1, 0, 2), null);
        var (second, _) = conv.Forward(x.Narrow(1, 2, t - 2), h1);
        AssertClose(y, Tensor.Concat([first, second], 1), 1e-12, "pieces");
    }

    [Fact]
    public void Errors_NameTheOpAndTheShapes()
    {
        var layer = new DeltaProduct(new DeltaProductOptions(Width, 2, Householder: 2));
        var wrongWidth = Assert.Throws<ArgumentException>(() => layer.Forward(Tensor.Zeros(1, 3, Width + 1)));
        Assert.Contains("[1,3,9]", wrongWidth.Message);
        Assert.Contains("DeltaProduct", Assert.Throws<ArgumentException>(() => layer.Step(Tensor.Zeros(1, 2, Width), layer.InitialState(1))).Message);
        Assert.Contains("state", Assert.Throws<ArgumentException>(() => layer.Forward(Tensor.Zeros(2, 3, Width), layer.InitialState(1))).Message);
        Assert.Contains("divisible", Assert.Throws<ArgumentException>(() => new DeltaProduct(new DeltaProductOptions(7, 2))).Message);
        Assert.Contains("chunk size", Assert.Throws<ArgumentException>(() => new DeltaProduct(new DeltaProductOptions(Width, 2, ChunkSize: 0))).Message);
        var q = Tensor.Zeros(1, 2, 3, 4);
        var k = Tensor.Zeros(1, 2, 3, 2, 4);
        var v = Tensor.Zeros(1, 2, 3, 2, 5);
        var badBeta = Assert.Throws<ArgumentException>(() => DeltaRule.Chunked(q, k, v, Tensor.Zeros(1, 2, 3, 1)));
        Assert.Contains("DeltaRule.Chunked", badBeta.Message);
        Assert.Contains("[1,2,3,2]", badBeta.Message);
    }
}
