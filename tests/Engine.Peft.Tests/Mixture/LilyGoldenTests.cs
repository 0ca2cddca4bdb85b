using Xunit;
using Xunit.Abstractions;

namespace Engine.Peft.Tests.Mixture;

/// <summary>
/// Lily folders in PEFT's layout (tests/golden/make_gpt2_lily_xlora_golden.py): PyTorch's logits, gradients and one
/// AdamW step (<see cref="PeftGoldenCheck"/>). gpt2-tiny-lily adapts lm_head (PEFT wraps only nn.Linear);
/// gpt2-tiny-lily-blocks adapts GPT-2's Conv1D layers (the engine's extension) with A and B shared by both blocks, so
/// the file holds equal copies under each layer's keys and the shared tensors' gradients sum both layers'.
/// </summary>
public class LilyGoldenTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData("gpt2-tiny-lily", 1)]
    [InlineData("gpt2-tiny-lily-blocks", 4)]
    public void PeftAdapter_LoadsOntoGpt2AndGivesPyTorchLogits(string fixture, int adaptedLayers)
        => PeftGoldenCheck.LoadsAndGivesPyTorchLogits(fixture, adaptedLayers);

    [Theory]
    [InlineData("gpt2-tiny-lily")]
    [InlineData("gpt2-tiny-lily-blocks")]
    public void PeftAdapter_GradientsAndOneAdamWStepMatchPyTorch(string fixture)
        => PeftGoldenCheck.GradientsAndOneAdamWStepMatchPyTorch(fixture, output);
}
