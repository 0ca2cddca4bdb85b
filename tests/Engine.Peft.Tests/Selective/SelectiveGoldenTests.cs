using Xunit;
using Xunit.Abstractions;

namespace Engine.Peft.Tests.Selective;

/// <summary>
/// LN tuning, trainable tokens and adaption prompt against PEFT-format folders written by
/// tests/golden/make_gpt2_selective_golden.py: LN tuning on PEFT's GPT-2 default norms (5 layers), trainable tokens on
/// wte with the tied lm_head using the new rows, adaption prompt on the top attention layer.
/// </summary>
public class SelectiveGoldenTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData("gpt2-tiny-ln-tuning", 5)]
    [InlineData("gpt2-tiny-trainable-tokens", 1)]
    [InlineData("gpt2-tiny-adaption-prompt", 1)]
    public void LoadsAndGivesPyTorchLogits(string fixture, int adaptedLayers) => PeftGoldenCheck.LoadsAndGivesPyTorchLogits(fixture, adaptedLayers);

    [Theory]
    [InlineData("gpt2-tiny-ln-tuning")]
    [InlineData("gpt2-tiny-trainable-tokens")]
    [InlineData("gpt2-tiny-adaption-prompt")]
    public void GradientsAndOneAdamWStepMatchPyTorch(string fixture) => PeftGoldenCheck.GradientsAndOneAdamWStepMatchPyTorch(fixture, output);
}
