using Engine.Nn.Checkpoints;
using Engine.Peft.Prompt;
using Xunit;
using static Engine.Peft.Tests.TestSupport;

namespace Engine.Peft.Tests.Prompt;

/// <summary>Cartridges: frozen rows never move, prefix tuning's layout, the file's concatenation, text initialisation, generation.</summary>
public class CartridgeTests
{
    static Cartridge Part(PeftModel peft) => (Cartridge)peft.ModelPart("default")!;

    [Fact]
    public void FrozenRows_StayBitIdenticalAfterTrainingWithWeightDecay()
    {
        var gpt = TinyGpt();
        var peft = Peft.Apply(gpt, new CartridgeConfig { NumVirtualTokens = 4, NumFrozenTokens = 2, Seed = 3 });
        var part = Part(peft);
        int width = 2 * 2 * 8;
        Assert.Equal(2 * width, peft.PrintTrainableParameters(TextWriter.Null).Trainable);
        var frozen = part.Frozen!.ToArray<float>();
        var trainable = part.Trainable.ToArray<float>();
        var opt = new AdamW(peft.TrainableParameters(), lr: 1e-2, weightDecay: 0.1);
        for (int step = 0; step < 3; step++)
        {
            Losses.CrossEntropy(peft.Forward(Ids()).Reshape(-1, 13), Ids().Roll(-1, 1).Reshape(-1)).Backward();
            opt.Step();
            opt.ZeroGrad();
        }
        Assert.Equal(frozen, part.Frozen!.ToArray<float>());
        Assert.NotEqual(trainable, part.Trainable.ToArray<float>());
    }

    [Fact]
    public void Cartridge_IsPrefixTuningOnTheConcatenatedRows_AndSavesThemAsOneTensor()
    {
        var peft = Peft.Apply(TinyGpt(), new CartridgeConfig { NumVirtualTokens = 3, NumFrozenTokens = 1, Seed = 4 });
        var part = Part(peft);
        var rows = Tensor.Concat([part.Frozen!, part.Trainable], 0);
        // Prefix tuning with the same table gives the same outputs: the layout is prefix tuning's.
        var prefix = Peft.Apply(TinyGpt(), new PrefixTuningConfig { NumVirtualTokens = 3 });
        using (Autograd.Autograd.NoGrad()) ((PrefixTuning)prefix.ModelPart("default")!).Embedding.CopyFrom(rows);
        var expected = prefix.Forward(Ids()).ToDoubleArray();
        Assert.Equal(expected, peft.Forward(Ids()).ToDoubleArray());

        var folder = TempFolder();
        try
        {
            peft.SavePretrained(folder);
            var file = Safetensors.Load(Path.Combine(folder, AdapterFiles.WeightsFileName));
            Assert.Equal(["prompt_embeddings"], file.Keys);
            Assert.Equal(rows.ToArray<float>(), file["prompt_embeddings"].ToArray<float>());
            var loaded = Peft.FromPretrained(TinyGpt(), folder, trainable: true);
            Assert.Equal(part.Frozen!.ToArray<float>(), Part(loaded).Frozen!.ToArray<float>());
            Assert.Equal(part.Trainable.ToArray<float>(), Part(loaded).Trainable.ToArray<float>());
            Assert.Equal(expected, loaded.Forward(Ids()).ToDoubleArray());
        }
        finally { Directory.Delete(folder, recursive: true); }
    }

    [Fact]
    public void TextInitialisation_GivesTheBaseModelWithTheTextBeforeTheInput()
    {
        // Starting from the KV cache of the text, the real tokens see exactly what they would see after the text.
        long[] text = [7, 2, 11, 4];
        var peft = Peft.Apply(TinyGpt(), new CartridgeConfig { NumVirtualTokens = 4, InitTokenIds = text });
        var ids = Tensor.FromArray(new long[,] { { 1, 5, 2 }, { 0, 3, 12 } });
        var withText = Tensor.Concat([Tensor.FromArray(new long[,] { { 7, 2, 11, 4 }, { 7, 2, 11, 4 } }), ids], 1);
        AssertClose(TinyGpt().Forward(withText).Narrow(1, 4, 3), peft.Forward(ids), 1e-5);
        // Only the first num_virtual_tokens positions of a longer text are kept.
        var longer = Peft.Apply(TinyGpt(), new CartridgeConfig { NumVirtualTokens = 2, NumFrozenTokens = 0, InitTokenIds = text });
        AssertClose(TinyGpt().Forward(Tensor.Concat([Tensor.FromArray(new long[,] { { 7, 2 }, { 7, 2 } }), ids], 1)).Narrow(1, 2, 3), longer.Forward(ids), 1e-5);
    }

    [Fact]
    public void Generation_WithTheCartridgeCacheMatchesUncachedGreedyDecoding()
    {
        var peft = Peft.Apply(TinyGpt(), new CartridgeConfig { NumVirtualTokens = 3, Seed = 5 });
        TestSupport.AssertCachedGreedyGenerationMatchesUncached(peft);
    }

    [Fact]
    public void ClassifierEncoder_TakesTheCartridgeAsPrefixes()
    {
        var model = (TransformerEncoderClassifier)new TransformerEncoderClassifier(new TransformerEncoderConfig(13, 16, 8, 2, 2, 3, EncoderPooling.Mean, MlpRatio: 2), new Generator(1)).Eval();
        var peft = Peft.Apply(model, new CartridgeConfig { NumVirtualTokens = 2, Seed = 6 });
        var logits = peft.Forward(Ids());
        Assert.Equal([2, 3], logits.Shape);
        var part = Part(peft);
        AssertClose(model.ForwardWithPrefix(Ids(), PrefixTuning.LayerPrefixes(part.Prefixes().Detach(), model.PrefixGeometry, 2)), logits, 1e-6);
        logits.Sum().Backward();
        Assert.NotNull(part.Trainable.Grad);
    }

    [Fact]
    public void Config_RefusesMoreFrozenThanVirtualTokens()
    {
        var e = Assert.Throws<ArgumentException>(() => Peft.Apply(TinyGpt(), new CartridgeConfig { NumVirtualTokens = 2, NumFrozenTokens = 3 }));
        Assert.Contains("num_frozen_tokens", e.Message);
    }
}
