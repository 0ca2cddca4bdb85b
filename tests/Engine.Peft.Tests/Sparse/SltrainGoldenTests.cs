using Xunit;
using Xunit.Abstractions;

namespace Engine.Peft.Tests.Sparse;

/// <summary>
/// SLTrain in PEFT's layout with the engine's peft_type on the Hugging Face GPT-2 fixture (tests/golden/
/// make_gpt2_sltrain_golden.py, the reference's forward W = B (s A) + scatter-add of the values, restated in plain
/// torch): the paper's form (replacing c_attn and mlp.c_fc, trainable scaling, the support Ω saved as int64) and the
/// engine's fine-tuning form over W0 (attn.c_proj): PyTorch's logits, gradients and logits after one AdamW step.
/// </summary>
public class SltrainGoldenTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData("gpt2-tiny-sltrain", 4)]
    [InlineData("gpt2-tiny-sltrain-additive", 2)]
    public void SltrainAdapter_LoadsOntoGpt2AndGivesPyTorchLogits(string fixture, int layers)
        => PeftGoldenCheck.LoadsAndGivesPyTorchLogits(fixture, layers);

    [Theory]
    [InlineData("gpt2-tiny-sltrain")]
    [InlineData("gpt2-tiny-sltrain-additive")]
    public void SltrainAdapter_GradientsAndOneAdamWStepMatchPyTorch(string fixture)
        => PeftGoldenCheck.GradientsAndOneAdamWStepMatchPyTorch(fixture, output);
}
