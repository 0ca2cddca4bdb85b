using Engine.Nn.Checkpoints;
using Engine.Peft.LowRank;
using Engine.Peft.RandomBasis;
using Xunit;
using Xunit.Abstractions;
using static Engine.Peft.Tests.TestSupport;

namespace Engine.Peft.Tests;

/// <summary>
/// PEFT's <c>bias</c> field ("none", "all", "&lt;method&gt;_only"): which base biases train and travel with the
/// adapter, against PyTorch (tests/golden/make_gpt2_bias_golden.py) and against the rule computed here from the model.
/// </summary>
public class TrainedBiasesTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData("gpt2-tiny-lora-bias-only", 4)]
    [InlineData("gpt2-tiny-lora-bias-all", 2)]
    public void PeftAdapter_WithTrainedBiases_LoadsOntoGpt2AndGivesPyTorchLogits(string fixture, int adaptedLayers)
        => PeftGoldenCheck.LoadsAndGivesPyTorchLogits(fixture, adaptedLayers);

    [Theory]
    [InlineData("gpt2-tiny-lora-bias-only")]
    [InlineData("gpt2-tiny-lora-bias-all")]
    public void PeftAdapter_WithTrainedBiases_GradientsAndOneAdamWStepMatchPyTorch(string fixture)
        => PeftGoldenCheck.GradientsAndOneAdamWStepMatchPyTorch(fixture, output);

    // The model's bias parameters by engine name, read before any adapter wraps anything.
    static List<string> BiasNames(Module model) => model.NamedParameters().Select(p => p.Name).Where(n => n == "bias" || n.EndsWith(".bias", StringComparison.Ordinal)).ToList();

    static List<string> TrainableBiasNames(PeftModel peft) =>
        peft.Model.NamedParameters().Where(p => p.Parameter.RequiresGrad && p.Name.EndsWith(".bias", StringComparison.Ordinal)).Select(p => p.Name).Order(StringComparer.Ordinal).ToList();

    [Fact]
    public void Bias_None_TrainsNoBias_LoraOnly_TheWrappedLayers_All_EveryBiasOfTheModel()
    {
        Assert.Empty(TrainableBiasNames(Peft.Apply(TinyGpt(), Lora(targets: ["qkv", "mlp.fc"]))));

        var only = Peft.Apply(TinyGpt(), Lora(targets: ["qkv", "mlp.fc"]) with { Bias = "lora_only" });
        Assert.Equal(["blocks.0.attn.qkv.base_layer.bias", "blocks.0.mlp.fc.base_layer.bias", "blocks.1.attn.qkv.base_layer.bias", "blocks.1.mlp.fc.base_layer.bias"],
            TrainableBiasNames(only));

        var model = TinyGpt();
        var every = BiasNames(model);
        Assert.True(every.Count > 8, "the tiny GPT has layer-norm and projection biases");
        var all = Peft.Apply(model, Lora(targets: ["qkv"]) with { Bias = "all" });
        // The wrapped layers' biases moved under base_layer; all of them, and no other tensor of the base, train.
        var expected = every.Select(n => n.Replace("attn.qkv.bias", "attn.qkv.base_layer.bias")).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(expected, TrainableBiasNames(all));
        Assert.DoesNotContain(all.Model.NamedParameters(), p => p.Parameter.RequiresGrad && !p.Name.EndsWith(".bias", StringComparison.Ordinal) && !p.Name.Contains("lora_"));
    }

    [Fact]
    public void TrainedBiases_AreSavedUnderPeftKeys_AndReloadOntoAFreshModel()
    {
        var peft = Peft.Apply(TinyGpt(), Lora(targets: ["qkv"]) with { Bias = "all", InitLoraWeights = LoraInit.Random });
        using (Autograd.Autograd.NoGrad())
            foreach (var p in peft.Model.NamedParameters().Where(p => p.Parameter.RequiresGrad)) Scramble(p.Parameter, 5);
        var folder = TempFolder();
        try
        {
            peft.SavePretrained(folder);
            var keys = Safetensors.Load(Path.Combine(folder, AdapterFiles.WeightsFileName)).Keys.ToList();
            Assert.Contains("base_model.model.transformer.h.0.attn.c_attn.base_layer.bias", keys);
            Assert.Contains("base_model.model.transformer.h.1.ln_1.bias", keys);
            Assert.Contains("base_model.model.transformer.ln_f.bias", keys);

            var loaded = Peft.FromPretrained(TinyGpt(), folder);
            AssertClose(peft.Forward(Ids()), loaded.Forward(Ids()), 0, "reloaded with its trained biases");
            Assert.Empty(TrainableBiasNames(loaded));
        }
        finally { Directory.Delete(folder, recursive: true); }
    }

    [Fact]
    public void AFailedLoad_PutsTheBiasesItWroteBack()
    {
        // The head is an embedding layer: PEFT saves its base weight, which must equal the model's. A file whose copy
        // differs fails after the adapter's tensors (the trained biases among them) were written.
        var peft = Peft.Apply(TinyGpt(), Lora(targets: ["qkv", "head"]) with { Bias = "all", InitLoraWeights = LoraInit.Random });
        using (Autograd.Autograd.NoGrad())
            foreach (var p in peft.Model.NamedParameters().Where(p => p.Parameter.RequiresGrad)) Scramble(p.Parameter, 6);
        var folder = TempFolder();
        try
        {
            peft.SavePretrained(folder);
            var path = Path.Combine(folder, AdapterFiles.WeightsFileName);
            var state = Safetensors.Load(path);
            var head = state.Keys.Single(k => k.EndsWith("lm_head.base_layer.weight", StringComparison.Ordinal));
            state[head] = state[head] + 1;
            Safetensors.Save(path, state);

            var target = TinyGpt();
            var before = Laws.LawCases.Bits(target);
            var into = new PeftModel<Gpt>(target);
            Assert.Throws<InvalidDataException>(() => into.LoadAdapter(folder, "default"));
            // Targeting the tied head shows it as a module (a new name for the embedding's weight); every tensor
            // the model had keeps its value.
            var after = Laws.LawCases.Bits(target);
            foreach (var (key, bits) in before) Assert.True(after.TryGetValue(key, out var now) && bits.SequenceEqual(now), $"{key} changed after a failed load");
        }
        finally { Directory.Delete(folder, recursive: true); }
    }

    [Fact]
    public void OnlyOneAdapter_MayTrainBiases_AndDeletingItFreezesThemWithTheirTrainedValues()
    {
        var peft = Peft.Apply(TinyGpt(), Lora(targets: ["qkv"]) with { Bias = "lora_only" });
        var error = Assert.Throws<ArgumentException>(() => peft.AddAdapter("second", Lora(targets: ["mlp.fc"]) with { Bias = "all" }));
        Assert.Contains("only one adapter", error.Message);
        peft.AddAdapter("second", Lora(targets: ["mlp.fc"]));

        var bias = peft.Model.NamedParameters().Single(p => p.Name == "blocks.0.attn.qkv.base_layer.bias").Parameter;
        using (Autograd.Autograd.NoGrad()) bias.CopyFrom(bias.Detach() + 1);
        var trained = bias.ToDoubleArray();
        peft.DeleteAdapter("default");
        var kept = peft.Model.NamedParameters().Single(p => p.Name == "blocks.0.attn.qkv.bias").Parameter;
        Assert.Equal(trained, kept.ToDoubleArray());
        Assert.False(kept.RequiresGrad);
    }

    [Theory]
    [InlineData("none", true)]
    [InlineData("all", true)]
    [InlineData("lora_only", true)]
    [InlineData("vera_only", true)]
    [InlineData("_only", false)]
    [InlineData("some", false)]
    [InlineData("", false)]
    public void Bias_AcceptsWhatPeftAccepts(string bias, bool accepted)
    {
        var config = new VeraConfig { TargetModules = ["qkv"], Bias = bias };
        if (accepted) config.Validate();
        else Assert.Contains($"bias '{bias}'", Assert.Throws<NotSupportedException>(config.Validate).Message);
    }
}
