using Engine.Peft.Mixture;
using Xunit;
using Xunit.Abstractions;
using static Engine.Peft.Tests.TestSupport;

namespace Engine.Peft.Tests.Mixture;

/// <summary>
/// X-LoRA folders in PEFT's layout (tests/golden/make_gpt2_lily_xlora_golden.py): the classifier file, a config whose
/// <c>adapters</c> name the LoRA experts' subfolders, PyTorch's logits, the classifier's gradients and one AdamW step
/// (<see cref="PeftGoldenCheck"/>). gpt2-tiny-xlora: three experts on 4 LoRA layers, a layerwise depth-2 classifier with
/// dropout (Sequential indices 0 and 3), top-2, temperature and global weight; gpt2-tiny-xlora-dense: two experts,
/// PEFT's depth-1 classifier and a scaling pass at 0.3.
/// </summary>
public class XLoraGoldenTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData("gpt2-tiny-xlora", 4)]
    [InlineData("gpt2-tiny-xlora-dense", 4)]
    public void PeftAdapter_LoadsOntoGpt2AndGivesPyTorchLogits(string fixture, int adaptedLayers)
        => PeftGoldenCheck.LoadsAndGivesPyTorchLogits(fixture, adaptedLayers);

    [Theory]
    [InlineData("gpt2-tiny-xlora")]
    [InlineData("gpt2-tiny-xlora-dense")]
    public void PeftAdapter_GradientsAndOneAdamWStepMatchPyTorch(string fixture)
        => PeftGoldenCheck.GradientsAndOneAdamWStepMatchPyTorch(fixture, output);

    [Fact]
    public void Resaving_WritesTheExpertsIntoTheSubfoldersTheConfigNames()
    {
        var folder = Path.Combine(AppContext.BaseDirectory, "golden", "gpt2-tiny-xlora");
        var peft = Peft.FromPretrained(Gpt2Checkpoint.Load(Gpt2Folder), folder);
        Assert.Equal(["default_0", "default_1", "default_2"], ((XLoraModelPart)peft.ModelPart("default")!).Experts);
        var copy = TempFolder();
        try
        {
            peft.SavePretrained(copy);
            var config = (XLoraConfig)AdapterFiles.ReadConfig(copy);
            Assert.Equal(32, config.HiddenSize);
            Assert.Equal(new[] { ("0", "0"), ("1", "1"), ("2", "2") }, config.Adapters!.Select(kv => (kv.Key, kv.Value)));
            foreach (var expert in new[] { "0", "1", "2" })
                Assert.Equal(File.ReadAllBytes(Path.Combine(folder, expert, AdapterFiles.WeightsFileName)).Length,
                    File.ReadAllBytes(Path.Combine(copy, expert, AdapterFiles.WeightsFileName)).Length);
            // Only the X-LoRA folder is written at the top: the experts are not saved again as adapters of their own.
            Assert.Equal(["0", "1", "2"], Directory.GetDirectories(copy).Select(Path.GetFileName).Order(StringComparer.Ordinal));
            var again = Peft.FromPretrained(Gpt2Checkpoint.Load(Gpt2Folder), copy);
            var ids = Tensor.FromArray(new long[,] { { 1, 7, 3, 9 } });
            AssertClose(peft.Forward(ids), again.Forward(ids), 0, "re-saved X-LoRA");
        }
        finally { Directory.Delete(copy, recursive: true); }
    }
}
