using Xunit;
using Xunit.Abstractions;

namespace Engine.Peft.Tests.LowRank;

/// <summary>
/// A LoftQ adapter in PEFT's layout on the Hugging Face GPT-2 fixture (tests/golden/make_gpt2_loftq_golden.py): PEFT
/// wraps the tied lm_head (nn.Linear), whose weight, and so the token embedding, becomes the dequantised NF4 weight Q.
/// The file holds the trained A and B and lm_head.base_layer.weight = Q; loading onto the original gpt2-tiny computes
/// Q again from loftq_config (as PEFT's update_layer does), which must equal the saved one bit for bit (the re-save
/// check compares it exactly), and gives PyTorch's logits, gradients and one AdamW step.
/// </summary>
public class LoftqGoldenTests(ITestOutputHelper output)
{
    [Fact]
    public void PeftAdapter_LoadsOntoGpt2AndGivesPyTorchLogits() => PeftGoldenCheck.LoadsAndGivesPyTorchLogits("gpt2-tiny-loftq", 1);

    [Fact]
    public void PeftAdapter_GradientsAndOneAdamWStepMatchPyTorch() => PeftGoldenCheck.GradientsAndOneAdamWStepMatchPyTorch("gpt2-tiny-loftq", output);
}
