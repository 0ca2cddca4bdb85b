using Xunit;
using Xunit.Abstractions;

namespace Engine.Peft.Tests.Multitask;

/// <summary>
/// Polyhistor-Lite (the engine's reading) on gpt2-tiny's sub-layer outputs in PEFT's layout
/// (tests/golden/make_gpt2_polyhistor_golden.py): a plain-PyTorch per-example restatement (task embeddings, decomposed
/// hypernetworks, torch.kron with the layer-wise scaling kernels) gives the logits, every tensor's gradient and the
/// logits after one AdamW step, with the examples' tasks [1, 0].
/// </summary>
public class PolyhistorGoldenTests(ITestOutputHelper output)
{
    [Fact]
    public void PolyhistorLiteAdapter_LoadsOntoGpt2AndGivesPyTorchLogits() => PeftGoldenCheck.LoadsAndGivesPyTorchLogits("gpt2-tiny-polyhistor-lite", 4);

    [Fact]
    public void PolyhistorLiteAdapter_GradientsAndOneAdamWStepMatchPyTorch() => PeftGoldenCheck.GradientsAndOneAdamWStepMatchPyTorch("gpt2-tiny-polyhistor-lite", output);
}
