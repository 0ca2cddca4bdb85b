using Xunit;
using Xunit.Abstractions;

namespace Engine.Peft.Tests.LowRank;

/// <summary>
/// aLoRA in PEFT's layout on the Hugging Face GPT-2 fixture (tests/golden/make_gpt2_alora_golden.py): a LoRA file with
/// alora_invocation_tokens, on a batch whose rows hold the invocation once, twice (the last counts) and not at all,
/// with PyTorch's logits, gradients and one AdamW step computed with PEFT's offset rule.
/// </summary>
public class AloraGoldenTests(ITestOutputHelper output)
{
    [Fact]
    public void PeftAdapter_LoadsOntoGpt2AndGivesPyTorchLogits() => PeftGoldenCheck.LoadsAndGivesPyTorchLogits("gpt2-tiny-alora", 6);

    [Fact]
    public void PeftAdapter_GradientsAndOneAdamWStepMatchPyTorch() => PeftGoldenCheck.GradientsAndOneAdamWStepMatchPyTorch("gpt2-tiny-alora", output);
}
