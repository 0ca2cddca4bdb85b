using Engine.Nn.Checkpoints;
using Engine.Peft.Prompt;
using Xunit;
using static Engine.Peft.Tests.TestSupport;

namespace Engine.Peft.Tests.Prompt;

/// <summary>P-tuning: the saved prompt is the encoder's output, training trains the encoder, generation, the classifier.</summary>
public class PTuningTests
{
    static PTuning Part(PeftModel peft) => (PTuning)peft.ModelPart("default")!;

    static Tensor Param(Module m, string name) => m.NamedParameters().Single(p => p.Name == name).Parameter;

    // The MLP written out: relu(relu(E W0ᵀ + b0) W2ᵀ + b2) W4ᵀ + b4, from the part's tensors.
    static Tensor MlpByHand(PTuning part)
    {
        Tensor Layer(Tensor x, int i) => x.MatMul(Param(part, $"mlp_head.{i}.weight").T) + Param(part, $"mlp_head.{i}.bias");
        return Layer(Layer(Layer(part.Embedding, 0).Relu(), 2).Relu(), 4);
    }

    [Theory]
    [InlineData("MLP")]
    [InlineData("LSTM")]
    public void Training_TrainsTheEncoder_AndTheSavedPromptIsItsOutputAndReloadsAsAFixedPrompt(string kind)
    {
        var gpt = TinyGpt();
        var before = gpt.StateDict().ToDictionary(kv => kv.Key, kv => kv.Value.ToArray<float>());
        var peft = Peft.Apply(gpt, new PTuningConfig { NumVirtualTokens = 3, EncoderHiddenSize = 6, EncoderReparameterizationType = kind, Seed = 2 });
        var part = Part(peft);
        Assert.True(part.Encoded);
        var start = part.NamedParameters().ToDictionary(p => p.Name, p => p.Parameter.ToArray<float>());
        var opt = new AdamW(peft.TrainableParameters(), lr: 1e-2);
        for (int step = 0; step < 3; step++)
        {
            Losses.CrossEntropy(peft.Forward(Ids()).Reshape(-1, 13), Ids().Roll(-1, 1).Reshape(-1)).Backward();
            opt.Step();
            opt.ZeroGrad();
        }
        // Every encoder tensor and the table moved; the base did not.
        foreach (var (name, p) in part.NamedParameters()) Assert.NotEqual(start[name], p.ToArray<float>());
        foreach (var (name, p) in gpt.NamedParameters()) Assert.Equal(before[name], p.ToArray<float>());

        var expected = peft.Forward(Ids()).ToDoubleArray();
        var folder = TempFolder();
        try
        {
            peft.SavePretrained(folder);
            var file = Safetensors.Load(Path.Combine(folder, AdapterFiles.WeightsFileName));
            Assert.Equal(["prompt_embeddings"], file.Keys);
            // The saved tensor is the encoder's output: by hand for the MLP, the part's LSTM for the LSTM type.
            var encoded = kind == "MLP" ? MlpByHand(part) : part.Prompt();
            AssertClose(encoded, file["prompt_embeddings"], 1e-6);
            // Loaded, the file is the prompt itself: no encoder, the same outputs.
            var loaded = Peft.FromPretrained(TinyGpt(), folder);
            Assert.False(Part(loaded).Encoded);
            Assert.Equal(["embedding"], Part(loaded).NamedParameters().Select(p => p.Name));
            AssertClose(expected, loaded.Forward(Ids()).ToDoubleArray(), 1e-6);
            // Loaded for training, the prompt itself trains (the encoder is not in the file).
            var resumed = Peft.FromPretrained(TinyGpt(), folder, trainable: true);
            Assert.Equal(3 * 8, resumed.PrintTrainableParameters(TextWriter.Null).Trainable);
        }
        finally { Directory.Delete(folder, recursive: true); }
    }

    [Fact]
    public void LstmEncoder_GradientsMatchFiniteDifferences()
    {
        var peft = Peft.Apply(TinyGpt(), new PTuningConfig { NumVirtualTokens = 2, EncoderHiddenSize = 3, EncoderReparameterizationType = "LSTM", EncoderNumLayers = 2, Seed = 3 });
        peft.To(DType.Float64);
        var ids = Tensor.FromArray(new long[,] { { 1, 5 }, { 4, 0 } });
        AssertParameterGradients(Part(peft), () => peft.Forward(ids));
    }

    [Theory]
    [InlineData("MLP")]
    [InlineData("LSTM")]
    public void Generation_WithThePromptCacheMatchesUncachedGreedyDecoding(string kind)
    {
        var peft = Peft.Apply(TinyGpt(), new PTuningConfig { NumVirtualTokens = 3, EncoderReparameterizationType = kind, Seed = 4 });
        TestSupport.AssertCachedGreedyGenerationMatchesUncached(peft);
    }

    [Fact]
    public void ClassifierEncoder_TakesTheEncodedPrompt()
    {
        var model = (TransformerEncoderClassifier)new TransformerEncoderClassifier(new TransformerEncoderConfig(13, 16, 8, 2, 2, 3, EncoderPooling.Mean, MlpRatio: 2), new Generator(1)).Eval();
        var peft = Peft.Apply(model, new PTuningConfig { NumVirtualTokens = 2, EncoderHiddenSize = 4, Seed = 6 });
        var logits = peft.Forward(Ids());
        Assert.Equal([2, 3], logits.Shape);
        var prompt = Part(peft).Prompt().Detach();
        AssertClose(model.ForwardWithPrompt(Ids(), prompt.Unsqueeze(0).Expand(2, 2, 8)), logits, 1e-6);
        logits.Sum().Backward();
        Assert.All(Part(peft).Parameters(), p => Assert.NotNull(p.Grad));
    }

    [Fact]
    public void Config_RefusesAnUnknownEncoderType()
    {
        var e = Assert.Throws<ArgumentException>(() => Peft.Apply(TinyGpt(), new PTuningConfig { EncoderReparameterizationType = "GRU" }));
        Assert.Contains("encoder_reparameterization_type", e.Message);
    }
}
