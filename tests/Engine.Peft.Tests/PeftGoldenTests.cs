using Engine.Nn.Checkpoints;
using Xunit;
using static Engine.Peft.Tests.TestSupport;

namespace Engine.Peft.Tests;

/// <summary>
/// Adapters in PEFT's layout for the Hugging Face GPT-2 fixture, with the logits PyTorch computes
/// (tests/golden/make_gpt2_lora_golden.py writes the adapter math in plain PyTorch).
/// </summary>
public class PeftGoldenTests
{
    [Theory]
    [InlineData("gpt2-tiny-lora", 6)]
    [InlineData("gpt2-tiny-dora", 2)]
    [InlineData("gpt2-tiny-adalora", 2)]
    [InlineData("gpt2-tiny-ia3", 4)]
    [InlineData("gpt2-tiny-vera", 4)]
    public void PeftAdapter_LoadsOntoGpt2AndGivesPyTorchLogits(string fixture, int adaptedLayers)
    {
        var folder = Path.Combine(AppContext.BaseDirectory, "golden", fixture);
        var golden = Safetensors.Load(Path.Combine(folder, "golden.safetensors"));
        var peft = Peft.FromPretrained(Gpt2Checkpoint.Load(Gpt2Folder), folder);
        Assert.Equal(adaptedLayers, peft.AdapterLayers().Count());
        var logits = peft.Forward(golden["input_ids"]);
        AssertClose(golden["logits"], logits, 2e-5, fixture);

        // Without the adapter the logits differ: the adapter is really applied.
        using (peft.DisableAdapters())
            Assert.True((peft.Forward(golden["input_ids"]) - golden["logits"]).Abs().Max().Item() > 1e-2);

        // Saving again gives PEFT's file back: the same keys and values.
        var copy = TempFolder();
        try
        {
            peft.SavePretrained(copy);
            var original = Safetensors.Load(Path.Combine(folder, AdapterFiles.WeightsFileName));
            var saved = Safetensors.Load(Path.Combine(copy, AdapterFiles.WeightsFileName));
            Assert.Equal(original.Keys.Order(StringComparer.Ordinal), saved.Keys.Order(StringComparer.Ordinal));
            foreach (var (key, t) in original) Assert.Equal(t.ToArray<float>(), saved[key].ToArray<float>());
        }
        finally { Directory.Delete(copy, recursive: true); }
    }

    [Fact]
    public void MergedPeftAdapter_ExportsAsAHuggingFaceGpt2WithTheAdaptedLogits()
    {
        var folder = Path.Combine(AppContext.BaseDirectory, "golden", "gpt2-tiny-lora");
        var golden = Safetensors.Load(Path.Combine(folder, "golden.safetensors"));
        var merged = Peft.FromPretrained(Gpt2Checkpoint.Load(Gpt2Folder), folder).MergeAndUnload();
        var export = TempFolder();
        try
        {
            // Conv1D weights are transposed on the way out; the merge happened in the engine's [out, in] layout.
            Gpt2Checkpoint.Save(merged, export);
            AssertClose(golden["logits"], Gpt2Checkpoint.Load(export).Forward(golden["input_ids"]), 2e-5);
        }
        finally { Directory.Delete(export, recursive: true); }
    }
}
