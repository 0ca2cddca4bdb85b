
namespace Engine.Nn;

/// <summary>
/// In-place initialisation schemes (torch.nn.init), seeded through a <see cref="Generator"/> so that models are
/// reproducible. Each writes into the tensor without recording and returns it.
/// </summary>
public static class Init
{
    [ThreadStatic] static int _skipDepth;

    /// <summary>
    /// A scope in which every scheme here leaves its tensor as it is (zeros, for a fresh parameter) and draws nothing,
    /// for building a model whose every parameter a load then overwrites (Hugging Face's <c>no_init_weights</c>): the
    /// random initialisation of a 22M-parameter BERT cost most of its load time. Per thread; scopes nest.
    /// <code>using (Init.Skip()) model = new Bert(config);   // then LoadStateDict with every key</code>
    /// </summary>
    public static IDisposable Skip() => new SkipScope();

    /// <summary>True inside <see cref="Skip"/> on this thread.</summary>
    public static bool IsSkipping => _skipDepth > 0;

    sealed class SkipScope : IDisposable
    {
        bool _disposed;
        public SkipScope() => _skipDepth++;
        public void Dispose()
        {
            if (_disposed) return;
            _disposed = true;
            _skipDepth--;
        }
    }

    static Tensor Write(Tensor target, Func<Tensor> values)
    {
        if (IsSkipping) return target;
        using (Autograd.Autograd.NoGrad()) target.CopyFrom(values());
        return target;
    }

    /// <summary>Samples from N(mean, std^2).</summary>
    public static Tensor Normal(Tensor t, double mean = 0, double std = 1, Generator? generator = null)
        => Write(t, () => Tensor.Randn(t.Shape, mean, std, t.DType, generator));

    /// <summary>Samples from U(low, high).</summary>
    public static Tensor Uniform(Tensor t, double low = 0, double high = 1, Generator? generator = null)
        => Write(t, () => Tensor.Rand(t.Shape, low, high, t.DType, generator));

    /// <summary>
    /// Samples from N(mean, std^2) truncated to mean ± 2 std, values outside redrawn (TensorFlow's
    /// <c>truncated_normal</c>, which Houlsby et al.'s adapter code uses).
    /// </summary>
    public static Tensor TruncatedNormal(Tensor t, double mean = 0, double std = 1, Generator? generator = null)
    {
        if (IsSkipping) return t;
        var values = Tensor.Randn([checked((int)t.Numel)], 0, 1, DType.Float64, generator).ToDoubleArray();
        for (int round = 0; round < 64; round++)
        {
            var outside = Enumerable.Range(0, values.Length).Where(i => Math.Abs(values[i]) > 2).ToArray();
            if (outside.Length == 0) break;
            var redraw = Tensor.Randn([outside.Length], 0, 1, DType.Float64, generator).ToDoubleArray();
            for (int j = 0; j < outside.Length; j++) values[outside[j]] = redraw[j];
        }
        // 64 rounds leave a value outside with probability 0.046^64: clamp as a last resort.
        var result = values.Select(v => mean + std * Math.Clamp(v, -2, 2)).ToArray();
        return Write(t, () => Tensor.FromArray(result, t.Shape).To(t.DType));
    }

    /// <summary>All zeros.</summary>
    public static Tensor Zeros(Tensor t) => Write(t, () => Tensor.Scalar(0, t.DType));

    /// <summary>All ones.</summary>
    public static Tensor Ones(Tensor t) => Write(t, () => Tensor.Scalar(1, t.DType));

    /// <summary>(fan_in, fan_out) as PyTorch computes them: dims 1 and 0, times the receptive field for rank > 2.</summary>
    public static (int FanIn, int FanOut) Fans(int[] shape)
    {
        if (shape.Length < 2) throw new ArgumentException($"Init: fan in and fan out need at least 2 dimensions, got {Shapes.Format(shape)}");
        int receptive = 1;
        for (int i = 2; i < shape.Length; i++) receptive *= shape[i];
        return (shape[1] * receptive, shape[0] * receptive);
    }

    /// <summary>Glorot/Xavier uniform: U(-a, a), a = gain * sqrt(6 / (fan_in + fan_out)).</summary>
    public static Tensor XavierUniform(Tensor t, double gain = 1, Generator? generator = null)
    {
        var (fi, fo) = Fans(t.Shape);
        double a = gain * Math.Sqrt(6.0 / (fi + fo));
        return Uniform(t, -a, a, generator);
    }

    /// <summary>Glorot/Xavier normal: std = gain * sqrt(2 / (fan_in + fan_out)).</summary>
    public static Tensor XavierNormal(Tensor t, double gain = 1, Generator? generator = null)
    {
        var (fi, fo) = Fans(t.Shape);
        return Normal(t, 0, gain * Math.Sqrt(2.0 / (fi + fo)), generator);
    }

    /// <summary>He/Kaiming uniform for leaky ReLU slope <paramref name="a"/>: bound = sqrt(6 / ((1 + a^2) fan)), fan_in by default.</summary>
    public static Tensor KaimingUniform(Tensor t, double a = 0, bool fanOut = false, Generator? generator = null)
    {
        var (fi, fo) = Fans(t.Shape);
        double bound = Math.Sqrt(6.0 / ((1 + a * a) * (fanOut ? fo : fi)));
        return Uniform(t, -bound, bound, generator);
    }

    /// <summary>He/Kaiming normal: std = sqrt(2 / ((1 + a^2) fan)).</summary>
    public static Tensor KaimingNormal(Tensor t, double a = 0, bool fanOut = false, Generator? generator = null)
    {
        var (fi, fo) = Fans(t.Shape);
        return Normal(t, 0, Math.Sqrt(2.0 / ((1 + a * a) * (fanOut ? fo : fi))), generator);
    }
}
