using Engine.Peft.LowRank;
using Xunit;

namespace Engine.Peft.Tests.LowRank;

/// <summary>
/// VeLoRA's properties (Miles et al. 2024; PEFT's VeloraFunction): the forward is plain LoRA's bit for bit, A's gradient
/// is the compressed-activation formula (computed here by loops, independently of the engine's ops) while B's and the
/// input's are exact, the projection vector follows init_type, and the op keeps fewer elements for its backward.
/// </summary>
public class VeloraTests
{
    const int InF = 10, OutF = 7, R = 3;

    static LoraLayer Layer(LoraConfig config, DType dtype)
    {
        var linear = new Linear(InF, OutF, bias: true, new Generator(3));
        linear.To(dtype);
        var layer = new LoraLayer(linear);
        layer.AddAdapter(AdapterContext.Standalone("a", config, "layer"));
        layer.SetActive(["a"]);
        return layer;
    }

    static LoraConfig Config(VeloraConfig? velora) => new() { R = R, LoraAlpha = 6, InitLoraWeights = LoraInit.Random, VeloraConfig = velora, Seed = 4 };

    [Theory]
    [InlineData("batch_average")]
    [InlineData("batch_average_once")]
    [InlineData("random")]
    public void Forward_IsBitIdenticalToPlainLora_WhileTraining(string initType)
    {
        var plain = Layer(Config(null), DType.Float32);
        var velora = Layer(Config(new() { NumGroups = 3, InitType = initType }), DType.Float32);
        using (Autograd.Autograd.NoGrad())
        {
            velora.LoraA("a").CopyFrom(plain.LoraA("a"));
            velora.LoraB("a").CopyFrom(plain.LoraB("a"));
        }
        var x = Tensor.Randn([2, 5, InF], 0, 1, DType.Float32, new Generator(8));
        x.RequiresGrad = true;
        Assert.True(velora.Training);
        var expected = plain.Forward(x).ToDoubleArray().Select(BitConverter.DoubleToInt64Bits);
        var actual = velora.Forward(x);
        // The compressed op is on the graph: the forward really went through it.
        Assert.Contains(Graph(actual), name => name == nameof(VeloraProjection));
        Assert.Equal(expected, actual.ToDoubleArray().Select(BitConverter.DoubleToInt64Bits));
    }

    // The names of the recorded ops that produced t.
    static List<string> Graph(Tensor t)
    {
        var names = new List<string>();
        var stack = new Stack<Tensor>([t]);
        var seen = new HashSet<Tensor>(ReferenceEqualityComparer.Instance);
        while (stack.Count > 0)
        {
            var u = stack.Pop();
            if (!seen.Add(u) || u.Producer is not { } p) continue;
            names.Add(p.Name);
            foreach (var i in p.Inputs) stack.Push(i);
        }
        return names;
    }

    [Fact]
    public void GradientOfA_IsTheCompressedFormula_BAndTheInputAreExact()
    {
        const int groups = 3, d = 4, rows = 8; // ceil(10 / 3) = 4: the last sub-token has two padding zeros
        const double scale = 1.5, s = 6.0 / R;
        var layer = Layer(Config(new() { NumGroups = groups, Scale = scale }), DType.Float64);
        var xt = Tensor.Randn([2, 4, InF], 0, 1, DType.Float64, new Generator(8));
        xt.RequiresGrad = true;
        var wt = Tensor.Randn([2, 4, OutF], 0, 1, DType.Float64, new Generator(9));
        (layer.Forward(xt) * wt).Sum().Backward();

        var x = To2D(xt.Detach().ToDoubleArray(), rows, InF);
        var w = To2D(wt.ToDoubleArray(), rows, OutF);
        var a = To2D(layer.LoraA("a").ToDoubleArray(), R, InF);
        var b = To2D(layer.LoraB("a").ToDoubleArray(), OutF, R);
        var w0 = To2D(layer.BaseLayer.Weight.ToDoubleArray(), OutF, InF);

        // v: the normalised mean of the rows' sub-tokens, padding included (PEFT normalises in float32).
        var mean = new double[d];
        for (int t = 0; t < rows; t++)
            for (int j = 0; j < InF; j++) mean[j % d] += x[t, j] / (rows * groups);
        var v32 = mean.Select(m => (float)m).ToArray();
        float norm = MathF.Sqrt(v32.Sum(m => m * m));
        var v = v32.Select(m => (double)(m / norm)).ToArray();
        Assert.Equal(v, VeloraVariant.Embed(layer, "a").ToDoubleArray().Select(e => (double)(float)e));

        // c[t, g] = <sub-token g of row t, v>; x̂[t, j] = scale c[t, j / D] v[j % D]; gH = s w B.
        var c = new double[rows, groups];
        for (int t = 0; t < rows; t++)
            for (int j = 0; j < InF; j++) c[t, j / d] += x[t, j] * v[j % d];
        var gh = new double[rows, R];
        for (int t = 0; t < rows; t++)
            for (int k = 0; k < R; k++)
                for (int o = 0; o < OutF; o++) gh[t, k] += s * w[t, o] * b[o, k];
        var gaCompressed = new double[R * InF];
        var gaExact = new double[R * InF];
        for (int k = 0; k < R; k++)
            for (int j = 0; j < InF; j++)
                for (int t = 0; t < rows; t++)
                {
                    gaCompressed[k * InF + j] += gh[t, k] * scale * c[t, j / d] * v[j % d];
                    gaExact[k * InF + j] += gh[t, k] * x[t, j];
                }
        var ga = layer.LoraA("a").Grad!.ToDoubleArray();
        for (int i = 0; i < ga.Length; i++) Assert.Equal(gaCompressed[i], ga[i], 1e-5);
        // The rank-1 sub-tokens lose information: the compressed gradient is not the exact one.
        Assert.True(ga.Zip(gaExact, (p, q) => Math.Abs(p - q)).Max() > 0.1, "A's gradient equals the exact one: nothing was compressed");

        // B: s Σ_t w[t]ᵀ (x[t] Aᵀ); x: w W0 + s (w B) A, both exact.
        var gb = layer.LoraB("a").Grad!.ToDoubleArray();
        var gx = xt.Grad!.ToDoubleArray();
        for (int o = 0; o < OutF; o++)
            for (int k = 0; k < R; k++)
            {
                double sum = 0;
                for (int t = 0; t < rows; t++)
                    for (int j = 0; j < InF; j++) sum += s * w[t, o] * x[t, j] * a[k, j];
                Assert.Equal(sum, gb[o * R + k], 1e-10);
            }
        for (int t = 0; t < rows; t++)
            for (int j = 0; j < InF; j++)
            {
                double sum = 0;
                for (int o = 0; o < OutF; o++) sum += w[t, o] * w0[o, j];
                for (int k = 0; k < R; k++) sum += gh[t, k] * a[k, j];
                Assert.Equal(sum, gx[t * InF + j], 1e-10);
            }
    }

    static Tensor Leaf(Tensor t)
    {
        t.RequiresGrad = true;
        return t;
    }

    static double[,] To2D(double[] values, int rows, int cols)
    {
        var m = new double[rows, cols];
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < cols; j++) m[i, j] = values[i * cols + j];
        return m;
    }

    [Fact]
    public void ProjectionVector_FollowsInitType()
    {
        double[] EmbedAfter(string initType, params ulong[] batches)
        {
            var layer = Layer(Config(new() { NumGroups = 3, InitType = initType }), DType.Float32);
            foreach (var seed in batches) layer.Forward(Leaf(Tensor.Randn([4, InF], 0, 1, DType.Float32, new Generator(seed))));
            return VeloraVariant.Embed(layer, "a").ToDoubleArray();
        }
        // Unit norm from the start for "random"; the batch averages start at zero and take the first training batch.
        var random = EmbedAfter("random");
        Assert.Equal(1, Math.Sqrt(random.Sum(e => e * e)), 6);
        Assert.Equal(random, EmbedAfter("random", 1, 2));
        Assert.All(EmbedAfter("batch_average"), e => Assert.Equal(0, e));
        Assert.Equal(EmbedAfter("batch_average", 1), EmbedAfter("batch_average_once", 1, 2));
        Assert.Equal(EmbedAfter("batch_average", 2), EmbedAfter("batch_average", 1, 2));
        Assert.NotEqual(EmbedAfter("batch_average", 1), EmbedAfter("batch_average", 2));
        // Evaluation mode and no-grad forwards leave it alone.
        var layer = Layer(Config(new() { NumGroups = 3 }), DType.Float32);
        layer.Eval();
        layer.Forward(Leaf(Tensor.Randn([4, InF], 0, 1, DType.Float32, new Generator(1))));
        layer.Train();
        using (Autograd.Autograd.NoGrad()) layer.Forward(Tensor.Randn([4, InF], 0, 1, DType.Float32, new Generator(1)));
        Assert.All(VeloraVariant.Embed(layer, "a").ToDoubleArray(), e => Assert.Equal(0, e));
    }

    [Fact]
    public void SavedForBackward_IsOneNumberPerSubToken_NotTheWholeInput()
    {
        const int tokens = 32, inF = 64, r = 4, groups = 4, d = 16;
        var x = Leaf(Tensor.Randn([tokens, inF], 0, 1, DType.Float32, new Generator(1)));
        var a = Leaf(Tensor.Randn([r, inF], 0, 1, DType.Float32, new Generator(2)));
        var op = new VeloraProjection(VeloraProjection.Normalize(Tensor.Ones([d], DType.Float32)), groups, 1);
        op.Apply(x, a);
        // c [tokens, groups], v [D] and A.
        Assert.Equal(tokens * groups + d + r * inF, op.SavedElements);
        // Plain LoRA's product keeps x [tokens, in] and A for its backward (its record's inputs).
        long plain = x.MatMul(a.T).Producer!.Inputs.Sum(t => (long)t.Numel);
        Assert.Equal(tokens * inF + r * inF, plain);
        Assert.True(op.SavedElements - r * inF < (plain - r * inF) / 10, "the activations kept are not a tenth of plain LoRA's");
    }
}
