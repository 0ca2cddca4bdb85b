using Xunit;
using Xunit.Abstractions;

namespace Engine.Peft.Tests.Kind;

/// <summary>
/// KIND on gpt2-tiny's two c_attn layers in PEFT's layout (tests/golden/make_gpt2_kind_golden.py): plain-PyTorch logits,
/// gradients and logits after one AdamW step, every example class 1 of 2 (default_task_id). The file holds the factors
/// and the gate table; the residual base weight is recomputed from W0 (it does not depend on the SVD's signs).
/// </summary>
public class KindGoldenTests(ITestOutputHelper output)
{
    [Fact]
    public void KindAdapter_LoadsOntoGpt2AndGivesPyTorchLogits() => PeftGoldenCheck.LoadsAndGivesPyTorchLogits("gpt2-tiny-kind", 2);

    [Fact]
    public void KindAdapter_GradientsAndOneAdamWStepMatchPyTorch() => PeftGoldenCheck.GradientsAndOneAdamWStepMatchPyTorch("gpt2-tiny-kind", output);
}
