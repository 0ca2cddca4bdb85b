using Engine.Nn.Checkpoints;
using Xunit;
using Xunit.Abstractions;
using static Engine.Peft.Tests.TestSupport;

namespace Engine.Peft.Tests.LowRank;

/// <summary>
/// VeLoRA and QA-LoRA in PEFT's layout on the Hugging Face GPT-2 fixture (tests/golden/make_gpt2_velora_qalora_golden.py):
/// PyTorch's logits, and its gradients and one AdamW step. VeLoRA's gradients are of a training forward, so A's are
/// the compressed-activation ones (batch-averaged projection vector, and the file's vector with init_type "random").
/// </summary>
public class VeloraQaLoraGoldenTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData("gpt2-tiny-velora", 4)]
    [InlineData("gpt2-tiny-velora-random", 4)]
    [InlineData("gpt2-tiny-qalora", 4)]
    public void PeftAdapter_LoadsOntoGpt2AndGivesPyTorchLogits(string fixture, int adaptedLayers)
        => PeftGoldenCheck.LoadsAndGivesPyTorchLogits(fixture, adaptedLayers);

    [Theory]
    [InlineData("gpt2-tiny-velora", true)]
    [InlineData("gpt2-tiny-velora-random", true)]
    [InlineData("gpt2-tiny-qalora", false)]
    public void PeftAdapter_GradientsAndOneAdamWStepMatchPyTorch(string fixture, bool training)
        => PeftGoldenCheck.GradientsAndOneAdamWStepMatchPyTorch(fixture, output, training);

    [Fact]
    public void VeloraGolden_InEvaluation_GivesTheExactGradientOfA_NotTheCompressedOne()
    {
        // Evaluation mode is plain LoRA's backward (as in PEFT): far from the golden's compressed A gradients, equal to its B ones.
        var folder = Path.Combine(AppContext.BaseDirectory, "golden", "gpt2-tiny-velora");
        var golden = Safetensors.Load(Path.Combine(folder, "golden.safetensors"));
        var peft = Peft.FromPretrained(Gpt2Checkpoint.Load(Gpt2Folder), folder, trainable: true);
        Assert.False(peft.Training);
        PeftGoldenCheck.NextTokenLoss(peft.Forward(golden["input_ids"]), golden["input_ids"]).Backward();
        foreach (var (key, t) in peft.NamedAdapterTensors("default").Where(t => t.Tensor.RequiresGrad).Select(t => (t.Key, t.Tensor)))
        {
            double error = PeftGoldenCheck.RelativeError(golden["grad." + key], t.Grad!);
            if (key.Contains("lora_A")) Assert.True(error > 0.5, $"{key}: the evaluation gradient is the compressed one ({error:E2})");
            else Assert.True(error < 1e-4, $"{key}: B's gradient is not exact ({error:E2})");
        }
    }
}
