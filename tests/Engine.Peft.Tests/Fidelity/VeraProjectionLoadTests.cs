using Engine.Nn.Checkpoints;
using Engine.Peft.LowRank;
using Engine.Peft.RandomBasis;
using Xunit;
using static Engine.Peft.Tests.TestSupport;

namespace Engine.Peft.Tests.Fidelity;

/// <summary>
/// VeRA files must carry the shared projections (<c>base_model.vera_A</c>, <c>base_model.vera_B</c>): the engine cannot
/// regenerate torch's generator from <c>projection_prng_key</c>, so a folder without them is rejected, naming the key,
/// and the model is left as it was.
/// </summary>
public class VeraProjectionLoadTests
{
    static string SaveVera(bool saveProjection)
    {
        var peft = Peft.Apply(TinyGpt(), new VeraConfig { R = 4, TargetModules = ["qkv", "fc"], ProjectionPrngKey = 5, SaveProjection = saveProjection });
        foreach (var (_, layer) in peft.AdapterLayers()) Scramble(((VeraLayer)layer).LambdaB("default"), 3);
        var folder = TempFolder();
        peft.SavePretrained(folder);
        return folder;
    }

    static void RemoveKey(string folder, string key)
    {
        var path = Path.Combine(folder, AdapterFiles.WeightsFileName);
        var tensors = Safetensors.Load(path);
        Assert.True(tensors.Remove(key), $"the saved file should hold '{key}'");
        Safetensors.Save(path, tensors);
    }

    // FromPretrained on a fresh model, and LoadAdapter beside an existing adapter: both throw, naming the key, and nothing changes.
    static void AssertRejectedNaming(string folder, string key)
    {
        var gpt = TinyGpt();
        var before = ModelSnapshot.Of(gpt);
        var logits = gpt.Forward(Ids()).ToDoubleArray();
        var e = Assert.Throws<InvalidDataException>(() => Peft.FromPretrained(gpt, folder));
        Assert.Contains(key, e.Message);
        before.AssertUnchanged(gpt);
        Assert.Equal(logits, gpt.Forward(Ids()).ToDoubleArray());

        var peft = Peft.Apply(TinyGpt(), Lora(targets: "proj"), "a");
        var peftBefore = ModelSnapshot.Of(peft);
        var peftLogits = peft.Forward(Ids()).ToDoubleArray();
        var e2 = Assert.Throws<InvalidDataException>(() => peft.LoadAdapter(folder, "v"));
        Assert.Contains(key, e2.Message);
        Assert.Equal(["a"], peft.AdapterNames);
        Assert.Equal(["a"], peft.ActiveAdapters);
        peftBefore.AssertUnchanged(peft);
        Assert.Equal(peftLogits, peft.Forward(Ids()).ToDoubleArray());
    }

    [Theory]
    [InlineData("base_model.vera_A")]
    [InlineData("base_model.vera_B")]
    public void FolderWithARemovedProjection_IsRejectedNamingItAndLeavesTheModelUnchanged(string key)
    {
        var folder = SaveVera(saveProjection: true);
        try
        {
            RemoveKey(folder, key);
            AssertRejectedNaming(folder, key);
        }
        finally { Directory.Delete(folder, recursive: true); }
    }

    [Fact]
    public void FolderSavedWithoutProjections_IsRejectedNamingTheMissingKey()
    {
        var folder = SaveVera(saveProjection: false);
        try
        {
            var file = Safetensors.Load(Path.Combine(folder, AdapterFiles.WeightsFileName));
            Assert.DoesNotContain("base_model.vera_A", file.Keys);
            AssertRejectedNaming(folder, "base_model.vera_A");
        }
        finally { Directory.Delete(folder, recursive: true); }
    }
}
