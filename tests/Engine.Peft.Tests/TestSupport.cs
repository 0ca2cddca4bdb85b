using Engine.Autograd;
using Engine.Peft.LowRank;
using Xunit;

namespace Engine.Peft.Tests;

/// <summary>Naive references, seeded inputs and small models shared by the adapter tests (closeness assertions: tests/Shared/Approx.cs).</summary>
static class TestSupport
{
    /// <summary>
    /// A layer of type <typeparamref name="T"/> around a seeded Linear [out, in] with adapters <paramref name="names"/>
    /// ("a" when none are given) added and active, in Float64 and evaluation mode: the standalone layer the method
    /// families' property tests start from.
    /// </summary>
    public static T StandaloneLayer<T>(Func<Linear, T> create, int inF, int outF, PeftConfig config, ulong seed = 3, bool bias = true, params string[] names) where T : AdapterLayer
    {
        var layer = create(new Linear(inF, outF, bias, generator: new Generator(seed)));
        if (names.Length == 0) names = ["a"];
        foreach (var name in names) layer.AddAdapter(AdapterContext.Standalone(name, config));
        layer.SetActive(names);
        layer.To(DType.Float64);
        layer.Eval();
        return layer;
    }

    /// <summary>
    /// Greedy generation of 4 tokens after a fixed 2-row prompt, decoded with the active input adapter's cache, equals
    /// greedy decoding by full forwards of <paramref name="peft"/> (the prompt methods' cache law).
    /// </summary>
    public static void AssertCachedGreedyGenerationMatchesUncached(PeftModel<Gpt> peft)
    {
        var prompt = Tensor.FromArray(new long[,] { { 3, 8 }, { 12, 1 } });
        var generated = Sampling.Generate(peft.Model, prompt, 4, new SamplingOptions(Greedy: true), cache: peft.ActiveInputAdapter!.CreateCache(peft, 2));
        var tokens = prompt;
        using (Autograd.Autograd.NoGrad())
            for (int step = 0; step < 4; step++)
                tokens = Tensor.Concat([tokens, peft.Forward(tokens).Select(1, -1).ArgMax(-1).Reshape(2, 1)], 1);
        Assert.Equal(tokens.ToArray<long>(), generated.ToArray<long>());
    }

    public static Tensor Randn(ulong seed, params int[] shape) => Tensor.Randn(shape, generator: new Generator(seed));
    public static Tensor Randn64(ulong seed, params int[] shape) => Tensor.Randn(shape, dtype: DType.Float64, generator: new Generator(seed));

    /// <summary>Overwrites a tensor with seeded random values, outside autograd.</summary>
    public static void Scramble(Tensor t, ulong seed, double std = 0.5)
    {
        using (Autograd.Autograd.NoGrad()) t.CopyFrom(Tensor.Randn(t.Shape, 0, std, t.DType, new Generator(seed)));
    }

    /// <summary>x [n, in] W^T [out, in] by loops, as a flat row-major array.</summary>
    public static double[] NaiveMatMulT(double[] x, int n, double[] w, int inF, int outF)
    {
        var y = new double[n * outF];
        for (int r = 0; r < n; r++)
            for (int o = 0; o < outF; o++)
            {
                double s = 0;
                for (int i = 0; i < inF; i++) s += x[r * inF + i] * w[o * inF + i];
                y[r * outF + o] = s;
            }
        return y;
    }

    /// <summary>B [out, r] A [r, in] by loops.</summary>
    public static double[] NaiveProduct(double[] b, double[] a, int outF, int r, int inF)
    {
        var p = new double[outF * inF];
        for (int o = 0; o < outF; o++)
            for (int i = 0; i < inF; i++)
            {
                double s = 0;
                for (int k = 0; k < r; k++) s += b[o * r + k] * a[k * inF + i];
                p[o * inF + i] = s;
            }
        return p;
    }

    /// <summary>
    /// Merging gives the unmerged outputs (1e-5) and unmerging restores every base weight (1e-6): the round trip that
    /// every mergeable method must pass.
    /// </summary>
    public static void AssertMergeRoundTrips(PeftModel peft, Tensor x)
    {
        var unmerged = peft.Forward(x).ToDoubleArray();
        var weights = peft.AdapterLayers().Select(l => l.Layer.BaseLayer.Weight.ToArray<float>()).ToList();
        peft.Merge();
        AssertClose(unmerged, peft.Forward(x).ToDoubleArray(), 1e-5);
        peft.Unmerge();
        var restored = peft.AdapterLayers().Select(l => l.Layer.BaseLayer.Weight.ToArray<float>()).ToList();
        for (int i = 0; i < weights.Count; i++)
            for (int j = 0; j < weights[i].Length; j++) Assert.True(Math.Abs(weights[i][j] - restored[i][j]) <= 1e-6);
    }

    /// <summary>A LoRA config for tests: non-zero B from the start, seeded.</summary>
    public static LoraConfig Lora(int r = 2, double alpha = 4, ulong seed = 7, params string[] targets) =>
        new() { R = r, LoraAlpha = alpha, TargetModules = targets.Length == 0 ? ["qkv", "proj", "fc"] : ModuleSelector.Create(targets), InitLoraWeights = LoraInit.Random, Seed = seed };

    /// <summary>A tiny GPT in evaluation mode.</summary>
    public static Gpt TinyGpt(ulong seed = 1, int layers = 2) =>
        (Gpt)new Gpt(new GptConfig(13, 16, 8, layers, 2, MlpRatio: 2), new Generator(seed)).Eval();

    public static Tensor Ids() => Tensor.FromArray(new long[,] { { 1, 5, 2, 9, 3 }, { 4, 4, 0, 12, 7 } });

    /// <summary>
    /// Checks d(sum(f() * v))/d(parameter) for the parameters that require grad against central differences,
    /// perturbing each Float64 parameter in place (every element: the test layers are small).
    /// </summary>
    public static void AssertParameterGradients(Module module, Func<Tensor> f, double eps = 1e-6, double atol = 1e-6, double rtol = 1e-4)
    {
        var result = GradCheck.CheckParameters(f, module.NamedParameters(), options: new GradCheckOptions(Eps: eps, Atol: atol, Rtol: rtol, Seed: 99));
        Assert.True(result.Passed, result.Message);
    }

    /// <summary>GradCheck with respect to Float64 inputs, asserting it passes.</summary>
    public static void AssertInputGradients(Func<Tensor[], Tensor> f, params Tensor[] inputs)
    {
        var result = GradCheck.Check(f, inputs, new GradCheckOptions(FullCheckLimit: 256));
        Assert.True(result.Passed, result.Message);
    }

    /// <summary>A scratch folder under the temp directory, unique per call.</summary>
    public static string TempFolder() => Directory.CreateTempSubdirectory("engine-peft-").FullName;

    public static readonly string Gpt2Folder = Path.Combine(AppContext.BaseDirectory, "golden", "gpt2-tiny");
}
