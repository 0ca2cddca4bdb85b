using Engine.Nn.Checkpoints;
using Xunit;
using Xunit.Abstractions;
using static Engine.Peft.Tests.TestSupport;

namespace Engine.Peft.Tests;

/// <summary>
/// Adapters in PEFT's layout for the Hugging Face GPT-2 fixture, with the logits PyTorch computes
/// (tests/golden/make_gpt2_lora_golden.py writes the adapter math in plain PyTorch), the gradients of the
/// next-token loss with respect to the adapter tensors PEFT trains, and the logits after one AdamW step on them
/// (<see cref="PeftGoldenCheck"/>). Methods added later have their own golden classes calling the same checks.
/// </summary>
public class PeftGoldenTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData("gpt2-tiny-lora", 6)]
    [InlineData("gpt2-tiny-dora", 2)]
    [InlineData("gpt2-tiny-adalora", 2)]
    [InlineData("gpt2-tiny-ia3", 4)]
    [InlineData("gpt2-tiny-vera", 4)]
    [InlineData("gpt2-tiny-loha", 1)]
    [InlineData("gpt2-tiny-lokr", 1)]
    [InlineData("gpt2-tiny-loha-blocks", 4)]
    [InlineData("gpt2-tiny-lokr-blocks", 4)]
    [InlineData("gpt2-tiny-pissa", 6)]
    [InlineData("gpt2-tiny-olora", 6)]
    [InlineData("gpt2-tiny-prompt", 0)]
    [InlineData("gpt2-tiny-prefix", 0)]
    public void PeftAdapter_LoadsOntoGpt2AndGivesPyTorchLogits(string fixture, int adaptedLayers)
        => PeftGoldenCheck.LoadsAndGivesPyTorchLogits(fixture, adaptedLayers);

    [Theory]
    [InlineData("gpt2-tiny-lora")]
    [InlineData("gpt2-tiny-dora")]
    [InlineData("gpt2-tiny-adalora")]
    [InlineData("gpt2-tiny-ia3")]
    [InlineData("gpt2-tiny-vera")]
    [InlineData("gpt2-tiny-loha")]
    [InlineData("gpt2-tiny-lokr")]
    [InlineData("gpt2-tiny-loha-blocks")]
    [InlineData("gpt2-tiny-lokr-blocks")]
    [InlineData("gpt2-tiny-pissa")]
    [InlineData("gpt2-tiny-olora")]
    [InlineData("gpt2-tiny-prompt")]
    [InlineData("gpt2-tiny-prefix")]
    public void PeftAdapter_GradientsAndOneAdamWStepMatchPyTorch(string fixture)
        => PeftGoldenCheck.GradientsAndOneAdamWStepMatchPyTorch(fixture, output);

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
