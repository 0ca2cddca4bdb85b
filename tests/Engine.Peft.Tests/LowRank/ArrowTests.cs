using Engine.Peft.LowRank;
using Engine.Peft.Spectral;
using Xunit;
using static Engine.Peft.Tests.TestSupport;

namespace Engine.Peft.Tests.LowRank;

/// <summary>
/// Arrow's properties (Ostapenko et al. 2024; GenKnowSub, Belofsky et al. 2025) and the substance of the law theories,
/// which a single-config law row cannot express (the router needs other LoRA adapters on its layers): routing weights
/// sum to one over exactly top_k experts, one expert with top_k 1 is that LoRA, GenKnowSub subtracts exactly the mean
/// of the general adapters once, gradients with respect to inputs and experts, delete, disable, and torch's randn.
/// </summary>
public class ArrowTests
{
    static readonly ModuleSelector Targets = ["qkv", "mlp.fc"];

    static LoraConfig Expert(ulong seed, double alpha = 4) =>
        new() { R = 2, LoraAlpha = alpha, TargetModules = Targets, InitLoraWeights = LoraInit.Random, Seed = seed };

    static LoraConfig Router(ArrowConfig arrow) => new() { R = 2, TargetModules = Targets, ArrowConfig = arrow };

    /// <summary>The law model with experts task_0.. (alphas differ, so scales matter), general gks_0.. and the router active.</summary>
    static PeftModel<Gpt> Routed(int experts, ArrowConfig arrow, int general = 0, DType? dtype = null)
    {
        var model = Laws.LawCases.Base();
        if (dtype is { } d) model.To(d);
        var peft = new PeftModel<Gpt>(model);
        for (int i = 0; i < experts; i++) peft.AddAdapter($"task_{i}", Expert((ulong)(10 + i), alpha: 2 + 2 * i));
        for (int i = 0; i < general; i++) peft.AddAdapter($"gks_{i}", Expert((ulong)(50 + i)));
        if (general > 0) arrow = arrow with { GksAdapterNames = Enumerable.Range(0, general).Select(i => $"gks_{i}").ToList() };
        peft.AddAdapter(ArrowVariant.RouterName, Router(arrow));
        peft.SetAdapter(ArrowVariant.RouterName);
        return peft;
    }

    static IEnumerable<(string Path, LoraLayer Layer, ArrowVariant Router)> Routers(PeftModel peft) =>
        peft.AdapterLayers().Select(l => (l.Path, (LoraLayer)l.Layer, (ArrowVariant)((LoraLayer)l.Layer).Settings(ArrowVariant.RouterName).Variant!));

    [Theory]
    [InlineData(1, 1.0)]
    [InlineData(2, 1.0)]
    [InlineData(3, 0.3)]
    public void RoutingWeights_SumToOneOverExactlyTheTopKScores(int topK, double temperature)
    {
        var peft = Routed(4, new ArrowConfig { TopK = topK, RouterTemperature = temperature, RngSeed = 3 });
        peft.Forward(Laws.LawCases.Ids());
        var (_, layer, router) = Routers(peft).First();
        var tokens = Randn(5, 40, layer.InFeatures);
        var weights = ArrowVariant.RoutingWeights(tokens, router.Prototypes!, topK, temperature).ToDoubleArray();
        var scores = (tokens.To(DType.Float64) % router.Prototypes!.To(DType.Float64).T).ToDoubleArray();
        for (int t = 0; t < 40; t++)
        {
            var row = weights.AsSpan(t * 4, 4).ToArray();
            var abs = scores.AsSpan(t * 4, 4).ToArray().Select(Math.Abs).ToArray();
            Assert.Equal(1.0, row.Sum(), 6);
            Assert.Equal(topK, row.Count(w => w != 0));
            // The kept experts are the top_k by |x·p|, weighted by the softmax of |x·p| / temperature among them.
            var kept = Enumerable.Range(0, 4).OrderByDescending(e => abs[e]).Take(topK).ToList();
            double z = kept.Sum(e => Math.Exp(abs[e] / temperature));
            for (int e = 0; e < 4; e++)
                if (kept.Contains(e)) Assert.True(Math.Abs(Math.Exp(abs[e] / temperature) / z - row[e]) < 1e-5, $"token {t}, expert {e}");
                else Assert.Equal(0, row[e]);
        }
    }

    [Fact]
    public void OneExpertWithTopOne_IsThatLora()
    {
        var peft = Routed(1, new ArrowConfig { TopK = 1, RngSeed = 3 });
        var routed = Laws.LawCases.Outputs(peft);
        peft.SetAdapter("task_0");
        AssertClose(Laws.LawCases.Outputs(peft), routed, 1e-6, "router over one expert vs the expert");
        Assert.True(MaxDifference(routed, Laws.LawCases.Outputs(Laws.LawCases.Base())) > 1e-3);
    }

    static double MaxDifference(double[] a, double[] b) => Laws.LawCases.MaxDifference(a, b);

    [Fact]
    public void GenKnowSub_SubtractsTheMeanOfTheGeneralAdaptersOnce_AndFromExpertsAddedLater()
    {
        var peft = Routed(2, new ArrowConfig { TopK = 2, UseGks = true, RngSeed = 3 }, general: 3);
        var before = peft.StateDict().ToDictionary(kv => kv.Key, kv => kv.Value.ToDoubleArray());
        peft.Forward(Laws.LawCases.Ids());
        peft.Forward(Laws.LawCases.Ids()); // a second forward subtracts nothing more
        foreach (var (path, layer, router) in Routers(peft))
        {
            foreach (var factor in new[] { "lora_A", "lora_B" })
            {
                string Key(string adapter) => $"base_model.{path}.{factor}.{adapter}.weight";
                var mean = new double[before[Key("gks_0")].Length];
                for (int g = 0; g < 3; g++)
                    for (int i = 0; i < mean.Length; i++) mean[i] += before[Key($"gks_{g}")][i] / 3;
                for (int e = 0; e < 2; e++)
                {
                    var expected = before[Key($"task_{e}")].Zip(mean, (w, m) => w - m).ToArray();
                    AssertClose(expected, peft.StateDict()[Key($"task_{e}")].ToDoubleArray(), 1e-6, Key($"task_{e}"));
                }
                for (int g = 0; g < 3; g++) Assert.Equal(before[Key($"gks_{g}")], peft.StateDict()[Key($"gks_{g}")].ToDoubleArray());
            }
            Assert.Equal(["task_0", "task_1"], router.Experts);
        }

        // An expert loaded after the first forward joins the routing and is purified at the next forward (PEFT's on_adapter_change).
        peft.AddAdapter("task_2", Expert(12, alpha: 6));
        peft.SetAdapter(ArrowVariant.RouterName);
        var added = peft.StateDict().ToDictionary(kv => kv.Key, kv => kv.Value.ToDoubleArray());
        peft.Forward(Laws.LawCases.Ids());
        foreach (var (path, _, router) in Routers(peft))
        {
            Assert.Equal(["task_0", "task_1", "task_2"], router.Experts);
            Assert.Equal(3, router.Prototypes!.Size(0));
            string key = $"base_model.{path}.lora_A.task_2.weight", general = $"base_model.{path}.lora_A.gks_";
            var expected = added[key].Select((w, i) => w - (added[general + "0.weight"][i] + added[general + "1.weight"][i] + added[general + "2.weight"][i]) / 3).ToArray();
            AssertClose(expected, peft.StateDict()[key].ToDoubleArray(), 1e-6, key);
            Assert.Equal(added[$"base_model.{path}.lora_A.task_0.weight"], peft.StateDict()[$"base_model.{path}.lora_A.task_0.weight"].ToDoubleArray());
        }
    }

    [Fact]
    public void Prototype_IsTheTopRightSingularVectorOfBA_WhenThePowerIterationConverges()
    {
        // B A = U diag(3, 1) [e1, e3]ᵀ H with B's columns orthonormal and H = I - 2uuᵀ/|u|² a reflection: the top right
        // singular vector is ±H e1, the first column of H. A clear gap (9 against 1 for AᵀBᵀBA): 15 steps converge.
        double[] u = [1, 2, -1, 0.5];
        double uu = u.Sum(x => x * x);
        var h = new double[16];
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 4; j++) h[i * 4 + j] = (i == j ? 1 : 0) - 2 * u[i] * u[j] / uu;
        var a = Tensor.FromArray(new double[] { 3, 0, 0, 0, 0, 0, 1, 0 }, [2, 4]) % Tensor.FromArray(h, [4, 4]);
        var b = Tensor.FromArray(new double[] { 0.6, 0, 0.8, 0, 0, 1 }, [3, 2]);
        var v = ArrowVariant.TopRightSingularVector(a, b, 3);
        // The norm is |w| / (|w| + 1e-8), not 1: compare directions.
        double dot = Enumerable.Range(0, 4).Sum(i => v[i] * h[i * 4]) / Math.Sqrt(v.Sum(x => x * x));
        Assert.Equal(1.0, Math.Abs(dot), 12);
    }

    [Fact]
    public void RoutedForward_HasExactGradientsWithRespectToInputsAndExperts()
    {
        var layer = StandaloneLayer(l => new LoraLayer(l), 16, 12, Expert(3), names: ["task_0", "task_1", "task_2"]);
        layer.AddAdapter(AdapterContext.Standalone(ArrowVariant.RouterName, new LoraConfig { R = 2, ArrowConfig = new() { TopK = 2, RouterTemperature = 0.7, RngSeed = 1 } }));
        layer.To(DType.Float64);
        layer.SetActive([ArrowVariant.RouterName]);
        var x = Randn64(8, 6, 16);
        layer.Forward(x);
        // Tokens: the scores and the softmax are differentiable (the top-k choice is constant away from ties).
        AssertInputGradients(i => layer.Forward(i[0]), x.Detach().Clone());
        // Experts: every factor of every expert (the prototypes stay as built, PEFT's buffer); the router's own A and B take no part.
        foreach (var (name, p) in layer.NamedParameters()) p.RequiresGrad = name.Contains("task_", StringComparison.Ordinal);
        AssertParameterGradients(layer, () => layer.Forward(x), atol: 1e-7, rtol: 1e-5);
        foreach (var (_, p) in layer.NamedParameters())
        {
            p.RequiresGrad = true;
            p.Grad = null;
        }
        layer.Forward(x).Sum().Backward();
        foreach (var (name, p) in layer.NamedParameters())
            if (name.Contains(ArrowVariant.RouterName, StringComparison.Ordinal))
                Assert.True(p.Grad is null || p.Grad.Abs().Max().Item() == 0, $"{name} should take no part");
            else if (name.Contains("task_", StringComparison.Ordinal)) Assert.True(p.Grad is not null && p.Grad.Abs().Max().Item() > 0, $"{name} has no gradient");
    }

    [Fact]
    public void Disabling_GivesTheBaseAndDeletingTheRouterOrAnExpertKeepsTheRest()
    {
        var baseBits = Laws.LawCases.Bits(Laws.LawCases.Base());
        var peft = Routed(3, new ArrowConfig { TopK = 2, RngSeed = 3 });
        var routed = Laws.LawCases.Outputs(peft);
        using (peft.DisableAdapters()) Assert.Equal(Laws.LawCases.Outputs(Laws.LawCases.Base()), Laws.LawCases.Outputs(peft));
        Assert.Equal(routed, Laws.LawCases.Outputs(peft));

        // Deleting an expert: the router routes over the others (PEFT would fail at the next forward; the engine rebuilds).
        peft.DeleteAdapter("task_2");
        peft.SetAdapter(ArrowVariant.RouterName);
        var twoLeft = Laws.LawCases.Outputs(peft);
        Assert.True(MaxDifference(routed, twoLeft) > 1e-6);
        var fresh = Routed(2, new ArrowConfig { TopK = 2, RngSeed = 3 });
        AssertClose(Laws.LawCases.Outputs(fresh), twoLeft, 1e-6, "router after deleting an expert vs a fresh router over the rest");

        // Deleting the router leaves the experts; deleting them all gives the base model back, bit for bit.
        peft.DeleteAdapter(ArrowVariant.RouterName);
        Assert.Equal(["task_0", "task_1"], peft.AdapterNames);
        peft.DeleteAdapter("task_0");
        peft.DeleteAdapter("task_1");
        Laws.LawCases.AssertBitIdentical(baseBits, Laws.LawCases.Bits(peft.Model), "after deleting every adapter");
    }

    [Fact]
    public void IlgpuCpu_MatchesTheCpu()
    {
        var peft = Routed(3, new ArrowConfig { TopK = 2, UseGks = true, RngSeed = 3 }, general: 2);
        foreach (var (name, p) in peft.NamedParameters()) p.RequiresGrad = name.Contains("task_", StringComparison.Ordinal);
        (double[] Output, List<double[]> Gradients) Run(Device device)
        {
            var y = peft.Forward(Laws.LawCases.Ids().To(device));
            var w = Tensor.Randn(y.Shape, 0, 1, y.DType, new Generator(17)).To(device);
            var trainable = peft.NamedParameters().Where(p => p.Parameter.RequiresGrad).Select(p => p.Parameter).ToArray();
            return (y.To(Device.Cpu).ToDoubleArray(), Autograd.Autograd.Grad((y * w).Sum(), trainable).Select(g => g.To(Device.Cpu).ToDoubleArray()).ToList());
        }
        var cpu = Run(Device.Cpu);
        peft.To(Device.IlgpuCpu);
        var ilgpu = Run(Device.IlgpuCpu);
        AssertClose(cpu.Output, ilgpu.Output, 1e-4, "output");
        Assert.Equal(cpu.Gradients.Count, ilgpu.Gradients.Count);
        for (int i = 0; i < cpu.Gradients.Count; i++) AssertClose(cpu.Gradients[i], ilgpu.Gradients[i], 1e-4, $"gradient {i}");
    }

    [Fact]
    public void RouterWithoutExperts_OrTooFew_IsRefusedAtTheForward()
    {
        var peft = new PeftModel<Gpt>(Laws.LawCases.Base());
        peft.AddAdapter(ArrowVariant.RouterName, Router(new ArrowConfig { TopK = 1 }));
        var e = Assert.Throws<InvalidOperationException>(() => peft.Forward(Laws.LawCases.Ids()));
        Assert.Contains("no expert", e.Message);
        var two = Routed(2, new ArrowConfig { TopK = 3 });
        e = Assert.Throws<InvalidOperationException>(() => two.Forward(Laws.LawCases.Ids()));
        Assert.Contains("top_k", e.Message);
    }

    [Fact]
    public void ArrowConfig_ReadsAndWritesPeftsFields_AndIsValidated()
    {
        var config = Router(new ArrowConfig { TopK = 2, RouterTemperature = 0.5, UseGks = true, TaskAdapterNames = ["task_0"], GksAdapterNames = ["gks_0"], RngSeed = 42 });
        var json = PeftConfigJson.ToJson(config);
        var arrow = json["arrow_config"]!.AsObject();
        Assert.Equal(["gks_adapter_names", "rng_seed", "router_temperature", "task_adapter_names", "top_k", "use_gks"], arrow.Select(kv => kv.Key).Order());
        var back = (LoraConfig)PeftConfigJson.FromJson(json);
        Assert.Equal(42, back.ArrowConfig!.RngSeed);
        Assert.Equal(["gks_0"], back.ArrowConfig.GksAdapterNames!);
        var defaults = new ArrowConfig();
        Assert.Equal((3, 1.0, false, (long?)null), (defaults.TopK, defaults.RouterTemperature, defaults.UseGks, defaults.RngSeed));
        Assert.Throws<ArgumentException>(() => Router(new ArrowConfig { TopK = 0 }).Validate());
        Assert.Throws<ArgumentException>(() => Router(new ArrowConfig { RouterTemperature = 0 }).Validate());
        Assert.Throws<ArgumentException>(() => Router(new ArrowConfig { UseGks = true }).Validate());
        Assert.Throws<NotSupportedException>(() => (Router(new ArrowConfig()) with { UseDora = true }).Validate());
    }

    [Fact]
    public void TorchRandn_DrawsTorchsNumbers()
    {
        // torch 1.13: torch.randn(n, generator=torch.Generator().manual_seed(1234)).tolist()
        AssertClose([0.0461304634809494, 0.4024028182029724, -1.0115290880203247, 0.2167382389307022, -0.612273097038269],
            TorchRandn.Draw(5, 1234).Select(v => (double)v).ToArray(), 1e-6, "n = 5 (double normals)");
        var long37 = TorchRandn.Draw(37, 1234);
        AssertClose([-0.1117185652256012, -0.49659010767936707, 0.16307370364665985, -0.8816877603530884],
            long37.Take(4).Select(v => (double)v).ToArray(), 1e-6, "n = 37, first block");
        AssertClose([-0.049637045711278915, -1.2485020160675049, -0.8508586287498474, -0.7689918279647827],
            long37.Skip(33).Select(v => (double)v).ToArray(), 1e-6, "n = 37, redrawn tail");
    }
}
