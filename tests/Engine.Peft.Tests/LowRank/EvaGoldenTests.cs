using System.Text.Json.Nodes;
using Engine.Nn.Checkpoints;
using Engine.Peft.LowRank;
using Xunit;
using Xunit.Abstractions;
using static Engine.Peft.Tests.TestSupport;

namespace Engine.Peft.Tests.LowRank;

/// <summary>
/// EVA on the Hugging Face GPT-2 fixture (tests/golden/make_gpt2_eva_golden.py): the engine's own initialisation on
/// the script's calibration batches gives the script's A (the exact PCA of each layer's inputs; up to a sign per row)
/// and its redistributed ranks exactly, and PEFT's folder (init_lora_weights "eva", eva_config, rank_pattern,
/// alpha_pattern) loads with PyTorch's logits, gradients and one AdamW step.
/// </summary>
public class EvaGoldenTests(ITestOutputHelper output)
{
    const string Fixture = "gpt2-tiny-eva";

    [Fact]
    public void PeftAdapter_LoadsOntoGpt2AndGivesPyTorchLogits() => PeftGoldenCheck.LoadsAndGivesPyTorchLogits(Fixture, 8);

    [Fact]
    public void PeftAdapter_GradientsAndOneAdamWStepMatchPyTorch() => PeftGoldenCheck.GradientsAndOneAdamWStepMatchPyTorch(Fixture, output);

    static string FolderPath => Path.Combine(AppContext.BaseDirectory, "golden", Fixture);

    // The script's calibration: 4 batches with labels (-100 at the first 3 positions of row 0); any loss serves.
    static (PeftModel<Gpt> Peft, IReadOnlyDictionary<string, Tensor> Eva) Calibrated()
    {
        var eva = Safetensors.Load(Path.Combine(FolderPath, "eva.safetensors"));
        var gpt2 = Gpt2Checkpoint.Load(Gpt2Folder);
        var data = new CalibrationData(4, i => gpt2.Forward(eva[$"calibration.{i}.input_ids"]).Mean())
        {
            Labels = i => eva[$"calibration.{i}.labels"],
        };
        var config = new LoraConfig
        {
            R = 4, LoraAlpha = 8, FanInFanOut = true, TargetModules = ["c_attn", "c_proj", "c_fc"], InitLoraWeights = LoraInit.Eva, EvaConfig = new(),
        };
        return (Peft.Apply(gpt2, config, calibration: data), eva);
    }

    [Fact]
    public void EngineEva_GivesTheScriptsRanksAndPatternsExactly()
    {
        var (peft, _) = Calibrated();
        var ours = (LoraConfig)peft.PeftConfigs["default"];
        var file = JsonNode.Parse(File.ReadAllText(Path.Combine(FolderPath, "adapter_config.json")))!;
        var rankPattern = file["rank_pattern"]!.AsObject().ToDictionary(p => p.Key, p => (int)p.Value!);
        var alphaPattern = file["alpha_pattern"]!.AsObject().ToDictionary(p => p.Key, p => (double)p.Value!);
        Assert.NotEmpty(rankPattern);   // the fixture really redistributes
        Assert.Equal(rankPattern.OrderBy(p => p.Key), ours.RankPattern.OrderBy(p => p.Key));
        Assert.Equal(alphaPattern.OrderBy(p => p.Key), ours.AlphaPattern.OrderBy(p => p.Key));
        Assert.Equal(file["target_modules"]!.AsArray().Select(n => (string)n!), ours.TargetModules!.Names);
        Assert.Equal(LoraInit.Eva, ours.InitLoraWeights);
    }

    [Fact]
    public void EngineEva_GivesTheScriptsExactA_UpToASignPerRow_AndPeftsIncrementalAToItsConvergence()
    {
        var (peft, eva) = Calibrated();
        double worst = 0, worstPeft = 1;
        int layers = 0;
        foreach (var (path, layer) in peft.AdapterLayers())
        {
            var lora = (LoraLayer)layer;
            var external = peft.PathOf(path).External;
            var a = lora.LoraA("default").ToDoubleArray();
            var expected = eva[$"exact.{external}.A"];
            Assert.Equal(expected.Shape, lora.LoraA("default").Shape);
            int r = expected.Size(0), n = expected.Size(1);
            var e = expected.ToDoubleArray();
            var p = eva[$"peft.{external}.A"].ToDoubleArray();
            for (int i = 0; i < r; i++)
            {
                double dot = 0, dotPeft = 0;
                for (int j = 0; j < n; j++) { dot += a[i * n + j] * e[i * n + j]; dotPeft += a[i * n + j] * p[i * n + j]; }
                double sign = Math.Sign(dot);
                for (int j = 0; j < n; j++) worst = Math.Max(worst, Math.Abs(sign * a[i * n + j] - e[i * n + j]));
                worstPeft = Math.Min(worstPeft, Math.Abs(dotPeft));
            }
            layers++;
        }
        output.WriteLine($"{layers} layers: largest entry difference from the exact PCA {worst:E2} (up to a sign per row); smallest |cos| with PEFT's incremental PCA {worstPeft:F6}");
        Assert.Equal(8, layers);
        // Float32 inputs (the engine's and PyTorch's forwards differ by rounding) through an eigen-decomposition: 6e-7 measured.
        Assert.True(worst < 1e-5, $"EVA's A differs from the script's exact PCA by {worst:E2}");
        // PEFT truncates to the top 8 components after each batch: its components lag the exact ones (0.9385 measured).
        Assert.True(worstPeft > 0.93, $"EVA's A has |cos| {worstPeft} with PEFT's incremental components");
    }
}
