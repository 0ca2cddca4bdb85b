using System.Text.Json.Nodes;
using Engine.Nn.Checkpoints;
using Engine.Peft.LowRank;
using Xunit;
using Xunit.Abstractions;
using static Engine.Peft.Tests.TestSupport;

namespace Engine.Peft.Tests.LowRank;

/// <summary>
/// Arrow on the Hugging Face GPT-2 fixture against PEFT's routing written in plain PyTorch
/// (tests/golden/make_gpt2_arrow_golden.py, folder gpt2-tiny-arrow): three task LoRA folders and two general ones
/// loaded by <see cref="Arrow.CreateModel{T}"/>, routed with top_k 1 and 2, with and without GenKnowSub; the
/// prototypes (from torch's randn of rng_seed, far from converged in 15 steps for task 1, so the start vector
/// matters), the logits, the gradients with respect to the experts, and the router's saved folder.
/// </summary>
public class ArrowGoldenTests(ITestOutputHelper output)
{
    static readonly string Folder = Path.Combine(AppContext.BaseDirectory, "golden", "gpt2-tiny-arrow");
    static readonly string[] Tasks = new[] { "task0", "task1", "task2" }.Select(t => Path.Combine(Folder, t)).ToArray();
    static readonly string[] General = new[] { "gen0", "gen1" }.Select(t => Path.Combine(Folder, t)).ToArray();
    static IReadOnlyDictionary<string, Tensor> Golden => Safetensors.Load(Path.Combine(Folder, "golden.safetensors"));

    static ArrowConfig Options(string name) => name switch
    {
        "top1" => new() { TopK = 1, RngSeed = 7 },
        "top2" => new() { TopK = 2, RngSeed = 7 },
        "gks_top1" => new() { TopK = 1, UseGks = true, RngSeed = 7 },
        "gks_top2" => new() { TopK = 2, RouterTemperature = 2.0, UseGks = true, RngSeed = 7 },
        _ => throw new ArgumentException(name),
    };

    static PeftModel<Gpt> Create(string name)
    {
        var options = Options(name);
        return Arrow.CreateModel(Gpt2Checkpoint.Load(Gpt2Folder), Tasks, options, options.UseGks ? General : null);
    }

    [Theory]
    [InlineData("top1")]
    [InlineData("top2")]
    [InlineData("gks_top1")]
    [InlineData("gks_top2")]
    public void ArrowModel_GivesPeftsPrototypesAndLogits(string name)
    {
        var golden = Golden;
        var peft = Create(name);
        Assert.Equal([ArrowVariant.RouterName], peft.ActiveAdapters);
        var logits = peft.Forward(golden["input_ids"]);

        int routers = 0;
        foreach (var (path, layer) in peft.AdapterLayers())
        {
            var router = (ArrowVariant)((LoraLayer)layer).Settings(ArrowVariant.RouterName).Variant!;
            Assert.Equal(["task_0", "task_1", "task_2"], router.Experts);
            AssertClose(golden[$"proto.{name}.{peft.PathOf(path).External}"], router.Prototypes!, 2e-5, $"{name} prototypes at {path}");
            routers++;
        }
        Assert.Equal(6, routers);
        AssertClose(golden["logits." + name], logits, 2e-5, name);

        // The routing matters: the plain sum of the experts, and the base, give other logits.
        using (peft.DisableAdapters()) Assert.True((peft.Forward(golden["input_ids"]) - golden["logits." + name]).Abs().Max().Item() > 1e-2);
        peft.SetAdapter("task_0", "task_1", "task_2");
        Assert.True((peft.Forward(golden["input_ids"]) - golden["logits." + name]).Abs().Max().Item() > 1e-2);
    }

    [Fact]
    public void TopKAndGenKnowSub_EachChangeTheLogits()
    {
        var golden = Golden;
        string[] cases = ["top1", "top2", "gks_top1", "gks_top2"];
        for (int i = 0; i < cases.Length; i++)
            for (int j = i + 1; j < cases.Length; j++)
                Assert.True((golden["logits." + cases[i]] - golden["logits." + cases[j]]).Abs().Max().Item() > 1e-3, $"{cases[i]} vs {cases[j]}");
    }

    [Fact]
    public void GradientsWithRespectToTheExperts_MatchPyTorch()
    {
        var golden = Golden;
        var peft = Create("gks_top2");
        var ids = golden["input_ids"];
        using (Autograd.Autograd.NoGrad()) peft.Forward(ids); // GenKnowSub and the prototypes happen here, as in PEFT
        var experts = new Dictionary<string, Tensor>();
        foreach (var task in new[] { "task_0", "task_1", "task_2" })
            foreach (var t in peft.NamedAdapterTensors(task))
            {
                t.Tensor.RequiresGrad = true;
                experts[$"grad.{task}.{t.Key}"] = t.Tensor;
            }
        var loss = PeftGoldenCheck.NextTokenLoss(peft.Forward(ids), ids);
        AssertClose(golden["loss"].Item(), loss.Item(), 1e-5, "loss");
        loss.Backward();
        var keys = golden.Keys.Where(k => k.StartsWith("grad.", StringComparison.Ordinal)).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(keys, experts.Keys.Order(StringComparer.Ordinal));
        double worst = 0;
        foreach (var key in keys)
        {
            double error = PeftGoldenCheck.RelativeError(golden[key], experts[key].Grad!);
            worst = Math.Max(worst, error);
            Assert.True(error <= GradientTolerance, $"{key} differs from PyTorch by {error:E2} of its largest magnitude");
        }
        output.WriteLine($"worst expert gradient error {worst:E2}");
    }

    // Measured: 1.7e-4 at worst (task_0's A at h.0.attn.c_attn), 2e-5 or less for most tensors. PEFT runs the power
    // iteration in float32: on that layer task_0's B A has singular values 9.05 and 7.82 after GenKnowSub, 15 steps
    // are far from converged, and torch's float32 prototype is 1.5e-6 from the float64 one (the engine's, 2e-6 from
    // torch's); the top-k softmax passes that on to the gradients. PyTorch in float64 with its own float32 prototypes
    // differs from its float32 run by 2.2e-5, and the engine in float64 is as far from it (1.9e-4) as the engine in
    // float32: the gap is the prototypes' float32 rounding in PEFT, not the engine's arithmetic.
    const double GradientTolerance = 5e-4;

    [Fact]
    public void RouterSaves_AsPeftsSavePretrained()
    {
        var peft = Create("gks_top2");
        peft.Forward(Golden["input_ids"]);
        var copy = TempFolder();
        try
        {
            peft.SavePretrained(copy);
            Assert.Equal(["arrow_router", "gks_0", "gks_1", "task_0", "task_1", "task_2"], Directory.GetDirectories(copy).Select(Path.GetFileName).Order());
            var expected = JsonNode.Parse(File.ReadAllText(Path.Combine(Folder, "arrow_router", "adapter_config.json")))!.AsObject();
            var saved = JsonNode.Parse(File.ReadAllText(Path.Combine(copy, "arrow_router", "adapter_config.json")))!.AsObject();
            foreach (var field in new[] { "peft_type", "r", "lora_alpha", "target_modules", "fan_in_fan_out", "task_type", "init_lora_weights", "arrow_config" })
                Assert.True(JsonNode.DeepEquals(expected[field], saved[field]), $"{field}: PEFT {expected[field]?.ToJsonString()}, engine {saved[field]?.ToJsonString()}");

            // The router's own A and B (rank r, unused by the routing) are saved; B is still zero. Prototypes are not saved.
            var peftFile = Safetensors.Load(Path.Combine(Folder, "arrow_router", AdapterFiles.WeightsFileName));
            var engineFile = Safetensors.Load(Path.Combine(copy, "arrow_router", AdapterFiles.WeightsFileName));
            Assert.Equal(peftFile.Keys.Order(StringComparer.Ordinal), engineFile.Keys.Order(StringComparer.Ordinal));
            foreach (var (key, t) in peftFile)
            {
                Assert.Equal(t.Shape, engineFile[key].Shape);
                if (key.EndsWith("lora_B.weight", StringComparison.Ordinal)) Assert.All(engineFile[key].ToDoubleArray(), v => Assert.Equal(0, v));
            }

            // As PEFT, the experts are saved as GenKnowSub left them: the general mean subtracted.
            var original = Safetensors.Load(Path.Combine(Tasks[0], AdapterFiles.WeightsFileName));
            var g0 = Safetensors.Load(Path.Combine(General[0], AdapterFiles.WeightsFileName));
            var g1 = Safetensors.Load(Path.Combine(General[1], AdapterFiles.WeightsFileName));
            var task0 = Safetensors.Load(Path.Combine(copy, "task_0", AdapterFiles.WeightsFileName));
            foreach (var (key, t) in original)
                AssertClose((t.To(DType.Float64) - (g0[key].To(DType.Float64) + g1[key].To(DType.Float64)) * 0.5).ToDoubleArray(), task0[key].ToDoubleArray(), 1e-6, key);
        }
        finally { Directory.Delete(copy, recursive: true); }
    }

    [Fact]
    public void PeftsRouterFolder_LoadsOntoTheExperts()
    {
        // PEFT at 5d602fd cannot load this folder itself (its LoraConfig leaves arrow_config a dict); the engine can,
        // once the experts are on the model under the names the router expects.
        var golden = Golden;
        var peft = new PeftModel<Gpt>(Gpt2Checkpoint.Load(Gpt2Folder));
        for (int i = 0; i < Tasks.Length; i++) peft.LoadAdapter(Tasks[i], $"task_{i}");
        for (int i = 0; i < General.Length; i++) peft.LoadAdapter(General[i], $"gks_{i}");
        peft.LoadAdapter(Path.Combine(Folder, "arrow_router"), ArrowVariant.RouterName);
        peft.SetAdapter(ArrowVariant.RouterName);
        AssertClose(golden["logits.gks_top2"], peft.Forward(golden["input_ids"]), 2e-5, "loaded router");
    }

    [Fact]
    public void SavedArrowModel_ReloadsToTheSameLogits()
    {
        var golden = Golden;
        var peft = Create("top2");
        var before = peft.Forward(golden["input_ids"]);
        var copy = TempFolder();
        try
        {
            peft.SavePretrained(copy);
            var again = new PeftModel<Gpt>(Gpt2Checkpoint.Load(Gpt2Folder));
            foreach (var name in new[] { "task_0", "task_1", "task_2", ArrowVariant.RouterName }) again.LoadAdapter(Path.Combine(copy, name), name);
            again.SetAdapter(ArrowVariant.RouterName);
            Assert.Equal(before.ToDoubleArray(), again.Forward(golden["input_ids"]).ToDoubleArray());
        }
        finally { Directory.Delete(copy, recursive: true); }
    }

    [Fact]
    public void ArrowModel_RefusesToMerge_AndLeavesTheWeights()
    {
        var peft = Create("top2");
        var ids = Golden["input_ids"];
        var before = peft.Forward(ids).ToDoubleArray();
        var weights = peft.Model.StateDict().ToDictionary(kv => kv.Key, kv => kv.Value.ToDoubleArray());
        var e = Assert.Throws<NotSupportedException>(() => peft.Merge());
        Assert.Contains("Arrow router", e.Message);
        // A mergeable expert beside the router: nothing is merged either.
        peft.SetAdapter("task_0", ArrowVariant.RouterName);
        Assert.Throws<NotSupportedException>(() => peft.Merge());
        Assert.Throws<NotSupportedException>(() => peft.MergeAndUnload());
        foreach (var (key, w) in peft.Model.StateDict()) Assert.Equal(weights[key], w.ToDoubleArray());
        peft.SetAdapter(ArrowVariant.RouterName);
        Assert.Equal(before, peft.Forward(ids).ToDoubleArray());
    }

    [Fact]
    public void CreateModel_RefusesIncompatibleExperts()
    {
        var folder = TempFolder();
        try
        {
            foreach (var (name, r) in new[] { ("r2", 2), ("r4", 4) })
                Peft.Apply(Gpt2Checkpoint.Load(Gpt2Folder), new LoraConfig { R = r, TargetModules = ["c_attn"], InitLoraWeights = LoraInit.Random })
                    .SavePretrained(Path.Combine(folder, name));
            var e = Assert.Throws<ArgumentException>(() => Arrow.CreateModel(Gpt2Checkpoint.Load(Gpt2Folder), [Path.Combine(folder, "r2"), Path.Combine(folder, "r4")], new ArrowConfig { TopK = 1 }));
            Assert.Contains("rank mismatch", e.Message);
            e = Assert.Throws<ArgumentException>(() => Arrow.CreateModel(Gpt2Checkpoint.Load(Gpt2Folder), [Tasks[0], Path.Combine(folder, "r4")], new ArrowConfig { TopK = 1 }));
            Assert.Contains("target_modules mismatch", e.Message);
            Assert.Throws<ArgumentException>(() => Arrow.CreateModel(Gpt2Checkpoint.Load(Gpt2Folder), Tasks[..2], new ArrowConfig()));
            e = Assert.Throws<ArgumentException>(() => Arrow.CreateModel(Gpt2Checkpoint.Load(Gpt2Folder), Tasks, new ArrowConfig { UseGks = true }));
            Assert.Contains("general", e.Message);
        }
        finally { Directory.Delete(folder, recursive: true); }
    }
}
