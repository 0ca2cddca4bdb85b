using Xunit;
using Xunit.Abstractions;

namespace Engine.Peft.Tests.Transfer;

/// <summary>
/// ScaLearn on gpt2-tiny's feed-forward outputs in PEFT's layout (tests/golden/make_gpt2_transfer_golden.py): the
/// reference's ScaLearn.forward in plain PyTorch (two frozen bottleneck sources, ω per layer [K, d]; and Uniform++ with
/// one shared ω [K, 1]): logits, ω's gradients and the logits after one AdamW step.
/// </summary>
public class ScaLearnGoldenTests(ITestOutputHelper output)
{
    [Fact]
    public void ScaLearnAdapter_LoadsOntoGpt2AndGivesPyTorchLogits() => PeftGoldenCheck.LoadsAndGivesPyTorchLogits("gpt2-tiny-scalearn", 2);

    [Fact]
    public void ScaLearnAdapter_GradientsAndOneAdamWStepMatchPyTorch() => PeftGoldenCheck.GradientsAndOneAdamWStepMatchPyTorch("gpt2-tiny-scalearn", output);

    [Fact]
    public void ScaLearnUniformPlusPlusAdapter_LoadsOntoGpt2AndGivesPyTorchLogits() => PeftGoldenCheck.LoadsAndGivesPyTorchLogits("gpt2-tiny-scalearn-uniform-plusplus", 2);

    [Fact]
    public void ScaLearnUniformPlusPlusAdapter_GradientsAndOneAdamWStepMatchPyTorch() => PeftGoldenCheck.GradientsAndOneAdamWStepMatchPyTorch("gpt2-tiny-scalearn-uniform-plusplus", output);
}
