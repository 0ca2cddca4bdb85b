using Engine.Nn.Checkpoints;
using Xunit;
using Xunit.Abstractions;
using static Engine.Peft.Tests.TestSupport;

namespace Engine.Peft.Tests.Multitask;

/// <summary>
/// Poly (on lm_head, PEFT's only nn.Linear in GPT-2, in evaluation mode) and multitask prompt tuning against PEFT-format
/// folders written by tests/golden/make_gpt2_multitask_golden.py; the golden files' task_ids [1, 0] are held in a
/// TaskIds scope by <see cref="PeftGoldenCheck"/>.
/// </summary>
public class MultitaskGoldenTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData("gpt2-tiny-poly", 1)]
    [InlineData("gpt2-tiny-multitask-prompt", 0)]
    public void LoadsAndGivesPyTorchLogits(string fixture, int adaptedLayers) => PeftGoldenCheck.LoadsAndGivesPyTorchLogits(fixture, adaptedLayers);

    [Theory]
    [InlineData("gpt2-tiny-poly")]
    [InlineData("gpt2-tiny-multitask-prompt")]
    public void GradientsAndOneAdamWStepMatchPyTorch(string fixture) => PeftGoldenCheck.GradientsAndOneAdamWStepMatchPyTorch(fixture, output);

    [Theory]
    [InlineData("gpt2-tiny-poly")]
    [InlineData("gpt2-tiny-multitask-prompt")]
    public void TheRoutingMatters_OtherTaskIdsGiveOtherLogits_AndNoneAreRefused(string fixture)
    {
        var folder = Path.Combine(AppContext.BaseDirectory, "golden", fixture);
        var golden = Safetensors.Load(Path.Combine(folder, "golden.safetensors"));
        Assert.Equal([1L, 0L], golden["task_ids"].ToArray<long>());
        var peft = Peft.FromPretrained(Gpt2Checkpoint.Load(Gpt2Folder), folder);
        var swapped = peft.ForwardForTasks(golden["input_ids"], [0, 1]);
        Assert.True((swapped - golden["logits"]).Abs().Max().Item() > 1e-2, $"{fixture}: swapping the tasks keeps PyTorch's logits");
        Assert.Throws<MissingTaskIdsException>(() => peft.Forward(golden["input_ids"]));
    }
}
