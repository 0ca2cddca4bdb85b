using Engine.Nn.Checkpoints;
using Xunit;
using Xunit.Abstractions;
using static Engine.Peft.Tests.TestSupport;

namespace Engine.Peft.Tests.SharedBank;

/// <summary>
/// PEFT-layout folders of the shared-bank family (tests/golden/make_gpt2_banks_golden.py, the math in plain PyTorch):
/// VB-LoRA (logits and the save_only_topk_weights form), TinyLoRA, PVeRA and UniLoRA (with save_indices) load onto the
/// GPT-2 fixture with PyTorch's logits, gradients and AdamW step; what PEFT's files cannot give is refused, named.
/// </summary>
public class SharedBankGoldenTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData("gpt2-tiny-vblora", 4)]
    [InlineData("gpt2-tiny-tinylora", 4)]
    [InlineData("gpt2-tiny-pvera", 4)]
    [InlineData("gpt2-tiny-unilora", 4)]
    public void PeftAdapter_LoadsOntoGpt2AndGivesPyTorchLogits(string fixture, int adaptedLayers)
        => PeftGoldenCheck.LoadsAndGivesPyTorchLogits(fixture, adaptedLayers);

    // The top-k weights come back through log and softmax (PEFT's own round trip), so to rounding.
    [Fact]
    public void VbLoraTopKFile_LoadsForInferenceWithPyTorchLogits_AndSavesTheSameForm()
        => PeftGoldenCheck.LoadsAndGivesPyTorchLogits("gpt2-tiny-vblora-topk", 4, saveTolerance: 1e-6);

    [Theory]
    [InlineData("gpt2-tiny-vblora")]
    [InlineData("gpt2-tiny-tinylora")]
    [InlineData("gpt2-tiny-pvera")]
    [InlineData("gpt2-tiny-unilora")]
    public void PeftAdapter_GradientsAndOneAdamWStepMatchPyTorch(string fixture)
        => PeftGoldenCheck.GradientsAndOneAdamWStepMatchPyTorch(fixture, output);

    [Fact]
    public void VbLoraTopKFile_IsRefusedForTraining()
    {
        var folder = Path.Combine(AppContext.BaseDirectory, "golden", "gpt2-tiny-vblora-topk");
        var e = Assert.Throws<NotSupportedException>(() => Peft.FromPretrained(Gpt2Checkpoint.Load(Gpt2Folder), folder, trainable: true));
        Assert.Contains("save_only_topk_weights", e.Message);
    }

    [Fact]
    public void UniLoraFileWithoutIndices_IsRefusedNamingTheMissingIndices()
    {
        var folder = Path.Combine(AppContext.BaseDirectory, "golden", "gpt2-tiny-unilora-noindices");
        var e = Assert.Throws<InvalidDataException>(() => Peft.FromPretrained(Gpt2Checkpoint.Load(Gpt2Folder), folder));
        Assert.Contains("unilora_indices_A", e.Message);
        Assert.Contains("save_indices", e.Message);
    }
}
