using Engine.Peft.LowRank;
using Xunit;
using static Engine.Peft.Tests.TestSupport;

namespace Engine.Peft.Tests.Fidelity;

/// <summary>
/// LoRA+ groups as PEFT's <c>create_loraplus_optimizer</c>: a trainable parameter goes to the fast group (lr * ratio)
/// when its name contains lora_B or it is 1-D, so the biases and layer norms of <c>modules_to_save</c> are fast and
/// their 2-D weights are not.
/// </summary>
public class LoraPlusGroupTests
{
    [Fact]
    public void ModulesToSave_BiasesAndNormsGetRatioTimesLr_TheirMatricesTheBaseLr()
    {
        var peft = Peft.Apply(TinyGpt(), new LoraConfig { R = 2, TargetModules = ["qkv"], ModulesToSave = ["fc", "ln_f"] });
        var groups = LoraPlus.ParamGroups(peft, lr: 2e-3, ratio: 8);
        var fast = groups.Single(g => g.Name == "lora_B");
        var slow = groups.Single(g => g.Name == "default");
        Assert.Equal(16e-3, fast.Lr, 15);
        Assert.Equal(2e-3, slow.Lr, 15);

        // By name, as PEFT decides: "lora_B" in the name or a 1-D tensor.
        var named = peft.NamedParameters().Where(p => p.Parameter.RequiresGrad).ToList();
        var expectedFast = named.Where(p => p.Name.Contains("lora_B") || p.Parameter.Rank == 1).ToList();
        var expectedSlow = named.Except(expectedFast).ToList();
        Assert.Contains(expectedFast, p => p.Name.EndsWith("mlp.fc.modules_to_save.default.bias", StringComparison.Ordinal));
        Assert.Contains(expectedFast, p => p.Name.EndsWith("ln_f.modules_to_save.default.weight", StringComparison.Ordinal));
        Assert.Contains(expectedSlow, p => p.Name.EndsWith("mlp.fc.modules_to_save.default.weight", StringComparison.Ordinal));
        // 2 layers: B of qkv, fc bias; ln_f weight and bias.
        Assert.Equal(2 + 2 + 2, expectedFast.Count);
        // A of qkv and fc weight in each layer.
        Assert.Equal(2 + 2, expectedSlow.Count);

        Assert.Equal(expectedFast.Count, fast.Parameters.Count);
        Assert.All(expectedFast, p => Assert.Contains(p.Parameter, fast.Parameters));
        Assert.Equal(expectedSlow.Count, slow.Parameters.Count);
        Assert.All(expectedSlow, p => Assert.Contains(p.Parameter, slow.Parameters));
    }
}
