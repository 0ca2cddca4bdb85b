using Xunit;
using Xunit.Abstractions;

namespace Engine.Peft.Tests.Routed;

/// <summary>
/// Engine-layout folders of the routed-sharing family (tests/golden/make_gpt2_routed_golden.py, the math in plain
/// PyTorch after the FlyLoRA fork's Linear.forward and the MoS spec): FlyLoRA (frozen sparse A, top-k of h + d, B
/// trained) and MoS (shared pools, fixed shard indices) load onto the GPT-2 fixture with PyTorch's logits, re-save the
/// same file, and match its gradients and one AdamW step (FlyLoRA in training mode too: bias_u = 0 keeps d).
/// </summary>
public class RoutedGoldenTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData("gpt2-tiny-flylora")]
    [InlineData("gpt2-tiny-mos")]
    public void Adapter_LoadsOntoGpt2AndGivesPyTorchLogits(string fixture) => PeftGoldenCheck.LoadsAndGivesPyTorchLogits(fixture, 4);

    [Theory]
    [InlineData("gpt2-tiny-flylora", false)]
    [InlineData("gpt2-tiny-flylora", true)]
    [InlineData("gpt2-tiny-mos", false)]
    public void Adapter_GradientsAndOneAdamWStepMatchPyTorch(string fixture, bool training) =>
        PeftGoldenCheck.GradientsAndOneAdamWStepMatchPyTorch(fixture, output, training);
}
