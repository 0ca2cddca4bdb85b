using System.Text.Json.Nodes;
using Engine.Nn.Checkpoints;
using Xunit;
using Xunit.Abstractions;
using static Engine.Peft.Tests.TestSupport;

namespace Engine.Peft.Tests.Structured;

/// <summary>
/// DeLoRA, GraLoRA and MiSS folders in PEFT's layout (tests/golden/make_gpt2_structured_golden.py): PyTorch's logits,
/// gradients and one AdamW step (<see cref="PeftGoldenCheck"/>), and a Bone folder (peft_type BONE, keys bone_block)
/// that loads as MiSS and saves as PEFT's MiSS.
/// </summary>
public class StructuredGoldenTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData("gpt2-tiny-delora", 1)]
    [InlineData("gpt2-tiny-delora-blocks", 4)]
    [InlineData("gpt2-tiny-gralora", 4)]
    [InlineData("gpt2-tiny-gralora-hybrid", 4)]
    [InlineData("gpt2-tiny-miss", 1)]
    [InlineData("gpt2-tiny-miss-bat", 1)]
    [InlineData("gpt2-tiny-miss-mini", 1)]
    public void PeftAdapter_LoadsOntoGpt2AndGivesPyTorchLogits(string fixture, int adaptedLayers)
        => PeftGoldenCheck.LoadsAndGivesPyTorchLogits(fixture, adaptedLayers);

    [Theory]
    [InlineData("gpt2-tiny-delora")]
    [InlineData("gpt2-tiny-delora-blocks")]
    [InlineData("gpt2-tiny-gralora")]
    [InlineData("gpt2-tiny-gralora-hybrid")]
    [InlineData("gpt2-tiny-miss")]
    [InlineData("gpt2-tiny-miss-bat")]
    [InlineData("gpt2-tiny-miss-mini")]
    public void PeftAdapter_GradientsAndOneAdamWStepMatchPyTorch(string fixture)
        => PeftGoldenCheck.GradientsAndOneAdamWStepMatchPyTorch(fixture, output);

    [Fact]
    public void BoneFolder_LoadsAsMissAndSavesAsPeftsMiss()
    {
        var folder = Path.Combine(AppContext.BaseDirectory, "golden", "gpt2-tiny-bone");
        var golden = Safetensors.Load(Path.Combine(folder, "golden.safetensors"));
        var peft = Peft.FromPretrained(Gpt2Checkpoint.Load(Gpt2Folder), folder);
        Assert.Equal("MISS", peft.PeftConfigs["default"].PeftType);
        AssertClose(golden["logits"], peft.Forward(golden["input_ids"]), 2e-5, "gpt2-tiny-bone");

        var copy = TempFolder();
        try
        {
            peft.SavePretrained(copy);
            // PEFT's convert-bone-to-miss.py: peft_type MISS, ".bone_" -> ".miss_", the same values.
            var json = JsonNode.Parse(File.ReadAllText(Path.Combine(copy, AdapterFiles.ConfigFileName)))!.AsObject();
            Assert.Equal("MISS", (string?)json["peft_type"]);
            var original = Safetensors.Load(Path.Combine(folder, AdapterFiles.WeightsFileName));
            var saved = Safetensors.Load(Path.Combine(copy, AdapterFiles.WeightsFileName));
            Assert.Equal(original.Keys.Select(k => k.Replace(".bone_", ".miss_")).Order(StringComparer.Ordinal), saved.Keys.Order(StringComparer.Ordinal));
            foreach (var (key, t) in original) Assert.Equal(t.ToDoubleArray(), saved[key.Replace(".bone_", ".miss_")].ToDoubleArray());

            // The saved MiSS folder gives the same logits again.
            var again = Peft.FromPretrained(Gpt2Checkpoint.Load(Gpt2Folder), copy);
            AssertClose(golden["logits"], again.Forward(golden["input_ids"]), 2e-5, "gpt2-tiny-bone saved as MiSS");
        }
        finally { Directory.Delete(copy, recursive: true); }
    }

    [Fact]
    public void BoneFolder_TrainsWithPyTorchsGradientsUnderTheMissKey()
    {
        var folder = Path.Combine(AppContext.BaseDirectory, "golden", "gpt2-tiny-bone");
        var golden = Safetensors.Load(Path.Combine(folder, "golden.safetensors"));
        var peft = Peft.FromPretrained(Gpt2Checkpoint.Load(Gpt2Folder), folder, trainable: true);
        var ids = golden["input_ids"];
        var loss = PeftGoldenCheck.NextTokenLoss(peft.Forward(ids), ids);
        AssertClose(golden["loss"].Item(), loss.Item(), 1e-5, "gpt2-tiny-bone loss");
        loss.Backward();
        var block = peft.NamedAdapterTensors("default").Single(t => t.Tensor.RequiresGrad);
        Assert.Equal("base_model.model.lm_head.miss_block", block.Key);
        Assert.True(PeftGoldenCheck.RelativeError(golden["grad.base_model.model.lm_head.bone_block"], block.Tensor.Grad!) < 1e-4, "gpt2-tiny-bone gradient");
    }

    [Fact]
    public void FileWithBothTheFormerAndTheCurrentKey_IsRefused()
    {
        var source = Path.Combine(AppContext.BaseDirectory, "golden", "gpt2-tiny-bone");
        var folder = TempFolder();
        try
        {
            File.Copy(Path.Combine(source, AdapterFiles.ConfigFileName), Path.Combine(folder, AdapterFiles.ConfigFileName));
            var tensors = Safetensors.Load(Path.Combine(source, AdapterFiles.WeightsFileName));
            tensors["base_model.model.lm_head.miss_block"] = tensors["base_model.model.lm_head.bone_block"];
            Safetensors.Save(Path.Combine(folder, AdapterFiles.WeightsFileName), tensors);
            var e = Assert.Throws<InvalidDataException>(() => Peft.FromPretrained(Gpt2Checkpoint.Load(Gpt2Folder), folder));
            Assert.Contains("bone_block", e.Message);
        }
        finally { Directory.Delete(folder, recursive: true); }
    }
}
