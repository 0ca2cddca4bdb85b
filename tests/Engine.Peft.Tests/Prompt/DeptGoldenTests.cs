using Xunit;
using Xunit.Abstractions;

namespace Engine.Peft.Tests.Prompt;

/// <summary>
/// DePT in the reference's layout (ZhengxiangShi/DePT; tests/golden/make_gpt2_dept_golden.py): P before the input and
/// c·A·B added to the input token embeddings, plain-PyTorch logits, gradients and logits after one AdamW step. The
/// engine adds the update at GPT-2's position embedding (its one adapted module), the same inputs.
/// </summary>
public class DeptGoldenTests(ITestOutputHelper output)
{
    [Fact]
    public void DeptAdapter_LoadsOntoGpt2AndGivesPyTorchLogits() => PeftGoldenCheck.LoadsAndGivesPyTorchLogits("gpt2-tiny-dept", 1);

    [Fact]
    public void DeptAdapter_GradientsAndOneAdamWStepMatchPyTorch() => PeftGoldenCheck.GradientsAndOneAdamWStepMatchPyTorch("gpt2-tiny-dept", output);
}
