using Engine.Autograd;
using Xunit;

namespace Engine.Nn.Tests;

/// <summary>Naive reference implementations, seeded inputs and a parameter gradient check shared by the tests (closeness assertions: tests/Shared/Approx.cs).</summary>
static class TestSupport
{
    public static Tensor Randn(ulong seed, params int[] shape) => Tensor.Randn(shape, generator: new Generator(seed));
    public static Tensor Randn64(ulong seed, params int[] shape) => Tensor.Randn(shape, dtype: DType.Float64, generator: new Generator(seed));

    /// <summary>Overwrites a parameter with fresh random values (outside autograd), so tests do not rely on ones/zeros init.</summary>
    public static void Scramble(Tensor parameter, ulong seed, double std = 0.5)
    {
        using (Autograd.Autograd.NoGrad()) parameter.CopyFrom(Tensor.Randn(parameter.Shape, 0, std, parameter.DType, new Generator(seed)));
    }

    /// <summary>Scrambles every parameter of a module (seeded per position).</summary>
    public static void ScrambleAll(Module m, ulong seed, double std = 0.5)
    {
        ulong s = seed;
        foreach (var p in m.Parameters()) Scramble(p, s++, std);
    }

    /// <summary>x [N, in] @ W^T + b by loops.</summary>
    public static double[] NaiveLinear(double[] x, int n, double[] w, double[]? b, int inF, int outF)
    {
        var y = new double[n * outF];
        for (int r = 0; r < n; r++)
            for (int o = 0; o < outF; o++)
            {
                double s = b?[o] ?? 0;
                for (int i = 0; i < inF; i++) s += x[r * inF + i] * w[o * inF + i];
                y[r * outF + o] = s;
            }
        return y;
    }

    /// <summary>erf by its Taylor series (exact to double precision for |x| &lt;= 3).</summary>
    public static double Erf(double x)
    {
        double sum = 0, term = x;
        for (int n = 0; n < 100; n++)
        {
            sum += term / (2 * n + 1);
            term *= -x * x / (n + 1);
        }
        return 2 / Math.Sqrt(Math.PI) * sum;
    }

    /// <summary>
    /// Checks d(sum(f() * v))/d(parameter) from autograd against central differences, perturbing each Float64
    /// parameter in place: every element of small tensors, an even spread of <paramref name="perTensor"/> elements of
    /// larger ones. The module must be in Float64 (<see cref="Module.To"/>) and deterministic (no active dropout).
    /// </summary>
    public static void AssertParameterGradients(Module module, Func<Tensor> f, int perTensor = 12, double eps = 1e-6, double atol = 1e-6, double rtol = 1e-4)
    {
        var result = GradCheck.CheckParameters(f, module.NamedParameters(), perTensor, new GradCheckOptions(Eps: eps, Atol: atol, Rtol: rtol, Seed: 99));
        Assert.True(result.Passed, result.Message);
    }

    /// <summary>GradCheck with respect to a Float64 input, asserting it passes.</summary>
    public static void AssertInputGradients(Func<Tensor[], Tensor> f, params Tensor[] inputs)
    {
        var result = GradCheck.Check(f, inputs, new GradCheckOptions(FullCheckLimit: 256));
        Assert.True(result.Passed, result.Message);
    }

    /// <summary>A tiny GPT for tests.</summary>
    public static Gpt TinyGpt(int layers = 1, bool rotary = false, int? kvHeads = null, ulong seed = 1, int vocab = 11, int d = 8, int heads = 2, int context = 16, bool tied = true)
        => new(new GptConfig(vocab, context, d, layers, heads, KvHeads: kvHeads, MlpRatio: 2, Rotary: rotary, TiedHead: tied), new Generator(seed));

    public static Tensor Ids(long[,] ids) => Tensor.FromArray(ids);
}
