using Engine.Nn.Checkpoints;
using Engine.Peft.Lycoris;
using Xunit;
using static Engine.Peft.Tests.TestSupport;

namespace Engine.Peft.Tests.Fidelity;

/// <summary>
/// GPT-2's tied lm_head as an adapter target (PEFT's only GPT-2 target for LoHa and LoKr): shown as a Linear sharing
/// wte's weight, never merged (that would change the embedding), and PEFT's saved lm_head.base_layer.weight checked.
/// </summary>
public class TiedHeadAdapterTests
{
    static string Fixture => Path.Combine(AppContext.BaseDirectory, "golden", "gpt2-tiny-loha");

    [Fact]
    public void ShowingTheTiedHead_KeepsTheLogits_AndSharesTheEmbeddingsTensor()
    {
        var gpt = Gpt2Checkpoint.Load(Gpt2Folder);
        var ids = Ids();
        var before = gpt.Forward(ids).ToDoubleArray();
        gpt.ShowTiedHead();
        var head = Assert.IsType<Linear>(gpt.NamedModules().Single(m => m.Name == "head").Module);
        Assert.Same(gpt.Tok.Weight, head.Weight);
        Assert.True(head.SharesWeight);
        AssertClose(before, gpt.Forward(ids).ToDoubleArray(), 1e-6);
    }

    [Fact]
    public void AModelWithItsTiedHeadShown_SavesAsAHubGpt2WithoutLmHead()
    {
        var plain = TempFolder();
        var shown = TempFolder();
        try
        {
            Gpt2Checkpoint.Save(Gpt2Checkpoint.Load(Gpt2Folder), plain);
            var gpt = Gpt2Checkpoint.Load(Gpt2Folder);
            gpt.ShowTiedHead();
            Gpt2Checkpoint.Save(gpt, shown);
            var keys = Safetensors.Load(Path.Combine(shown, "model.safetensors")).Keys.Order(StringComparer.Ordinal).ToList();
            Assert.DoesNotContain("lm_head.weight", keys);
            Assert.Equal(Safetensors.Load(Path.Combine(plain, "model.safetensors")).Keys.Order(StringComparer.Ordinal), keys);
            AssertClose(gpt.Forward(Ids()), Gpt2Checkpoint.Load(shown).Forward(Ids()), 1e-6);
        }
        finally
        {
            Directory.Delete(plain, recursive: true);
            Directory.Delete(shown, recursive: true);
        }
    }

    [Fact]
    public void TargetingLmHead_WrapsTheTiedHead_AndOnlyIt()
    {
        var peft = Peft.Apply(Gpt2Checkpoint.Load(Gpt2Folder), new LohaConfig { R = 2, TargetModules = ["lm_head"] });
        var (path, layer) = Assert.Single(peft.AdapterLayers());
        Assert.Equal("head", path);
        Assert.Equal("lm_head", layer.PathOf("default").External);
        // Other targets leave the head tied and unshown.
        var other = Peft.Apply(Gpt2Checkpoint.Load(Gpt2Folder), new LohaConfig { R = 2, TargetModules = ["c_attn"] });
        Assert.DoesNotContain(other.Model.NamedModules(), m => m.Name == "head");
    }

    [Fact]
    public void MergingIntoTheTiedHead_IsRefused_AndTheEmbeddingStays()
    {
        var peft = Peft.FromPretrained(Gpt2Checkpoint.Load(Gpt2Folder), Fixture);
        var embedding = peft.Model.Tok.Weight.ToDoubleArray();
        var e = Assert.Throws<NotSupportedException>(() => peft.Merge());
        Assert.Contains("tied head", e.Message);
        Assert.Equal(embedding, peft.Model.Tok.Weight.ToDoubleArray());
    }

    [Fact]
    public void SavedBaseWeight_ThatDiffersFromTheModel_IsRefusedByName()
    {
        var copy = TempFolder();
        try
        {
            File.Copy(Path.Combine(Fixture, AdapterFiles.ConfigFileName), Path.Combine(copy, AdapterFiles.ConfigFileName));
            var tensors = Safetensors.Load(Path.Combine(Fixture, AdapterFiles.WeightsFileName));
            const string key = "base_model.model.lm_head.base_layer.weight";
            tensors[key] = tensors[key] + 0.01;
            Safetensors.Save(Path.Combine(copy, AdapterFiles.WeightsFileName), tensors);
            var gpt = Gpt2Checkpoint.Load(Gpt2Folder);
            var e = Assert.Throws<InvalidDataException>(() => Peft.FromPretrained(gpt, copy));
            Assert.Contains(key, e.Message);
        }
        finally { Directory.Delete(copy, recursive: true); }
    }
}
