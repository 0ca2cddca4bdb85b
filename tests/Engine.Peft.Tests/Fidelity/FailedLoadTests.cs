using Engine.Nn.Checkpoints;
using Engine.Peft.LowRank;
using Xunit;
using static Engine.Peft.Tests.TestSupport;

namespace Engine.Peft.Tests.Fidelity;

/// <summary>
/// Loading is all or nothing: a file that does not match the adapter its config builds is rejected and the model is
/// bit-identical afterwards, even for PiSSA, whose layers move the principal part out of the base weight while the
/// adapter is built.
/// </summary>
public class FailedLoadTests
{
    public enum Damage { WrongShape, MissingKey, UnexpectedKey }

    static string SavePissa(Damage damage)
    {
        var peft = Peft.Apply(TinyGpt(), new LoraConfig { R = 2, LoraAlpha = 4, InitLoraWeights = LoraInit.Pissa, TargetModules = ["qkv", "fc"], Seed = 3 });
        var folder = TempFolder();
        peft.SavePretrained(folder);
        var path = Path.Combine(folder, AdapterFiles.WeightsFileName);
        var tensors = Safetensors.Load(path);
        const string key = "base_model.model.transformer.h.1.mlp.c_fc.lora_A.weight";
        Assert.Contains(key, tensors.Keys);
        switch (damage)
        {
            case Damage.WrongShape: tensors[key] = Tensor.Zeros(3, 8); break;
            case Damage.MissingKey: tensors.Remove(key); break;
            case Damage.UnexpectedKey: tensors["base_model.model.transformer.h.1.attn.c_proj.lora_A.weight"] = Tensor.Zeros(2, 8); break;
        }
        Safetensors.Save(path, tensors);
        return folder;
    }

    [Theory]
    [InlineData(Damage.WrongShape)]
    [InlineData(Damage.MissingKey)]
    [InlineData(Damage.UnexpectedKey)]
    public void FailedPissaLoad_OnAFreshModel_LeavesItBitIdentical(Damage damage)
    {
        var folder = SavePissa(damage);
        try
        {
            var gpt = TinyGpt();
            var before = ModelSnapshot.Of(gpt);
            var logits = gpt.Forward(Ids()).ToDoubleArray();
            var e = Assert.Throws<InvalidDataException>(() => Peft.FromPretrained(gpt, folder));
            Assert.Contains(damage == Damage.UnexpectedKey ? "h.1.attn.c_proj" : "h.1.mlp.c_fc.lora_A", e.Message);
            before.AssertUnchanged(gpt);
            Assert.Equal(logits, gpt.Forward(Ids()).ToDoubleArray());
        }
        finally { Directory.Delete(folder, recursive: true); }
    }

    [Theory]
    [InlineData(Damage.WrongShape)]
    [InlineData(Damage.MissingKey)]
    public void FailedPissaLoad_BesideAnotherAdapter_LeavesTheModelAndItsAdaptersAsTheyWere(Damage damage)
    {
        var folder = SavePissa(damage);
        try
        {
            // An existing LoRA adapter on the same layers (qkv) and on others.
            var peft = Peft.Apply(TinyGpt(), Lora(targets: ["qkv", "proj"]), "a");
            var before = ModelSnapshot.Of(peft);
            var logits = peft.Forward(Ids()).ToDoubleArray();
            Assert.Throws<InvalidDataException>(() => peft.LoadAdapter(folder, "p"));
            Assert.Equal(["a"], peft.AdapterNames);
            Assert.Equal(["a"], peft.ActiveAdapters);
            before.AssertUnchanged(peft);
            Assert.Equal(logits, peft.Forward(Ids()).ToDoubleArray());
            using (peft.DisableAdapters())
                Assert.Equal(TinyGpt().Forward(Ids()).ToDoubleArray(), peft.Forward(Ids()).ToDoubleArray());
        }
        finally { Directory.Delete(folder, recursive: true); }
    }

    [Fact]
    public void FailedPissaLoad_LeavesEveryParametersRequiresGradAsItWas()
    {
        var folder = SavePissa(Damage.WrongShape);
        try
        {
            var gpt = TinyGpt();
            var fresh = gpt.NamedParameters().Select(p => (p.Name, p.Parameter.RequiresGrad)).ToList();
            Assert.Throws<InvalidDataException>(() => Peft.FromPretrained(gpt, folder));
            Assert.Equal(fresh, gpt.NamedParameters().Select(p => (p.Name, p.Parameter.RequiresGrad)).ToList());

            var peft = Peft.Apply(TinyGpt(), Lora(targets: ["qkv", "proj"]), "a");
            var flags = peft.NamedParameters().Select(p => (p.Name, p.Parameter.RequiresGrad)).ToList();
            Assert.Throws<InvalidDataException>(() => peft.LoadAdapter(folder, "p"));
            Assert.Equal(flags, peft.NamedParameters().Select(p => (p.Name, p.Parameter.RequiresGrad)).ToList());
        }
        finally { Directory.Delete(folder, recursive: true); }
    }
}
