using Engine.Nn.Checkpoints;
using Engine.Peft.Prompt;
using Xunit;
using Xunit.Abstractions;
using static Engine.Peft.Tests.TestSupport;

namespace Engine.Peft.Tests.Prompt;

/// <summary>
/// P-tuning, cartridge and CPT adapters in PEFT's layout for the Hugging Face GPT-2 fixture
/// (tests/golden/make_gpt2_prompt_learning_golden.py): PyTorch's logits, the gradients of what the engine trains when it
/// loads the folder for training, and one AdamW step; P-tuning's encoders (MLP and LSTM) against PEFT's PromptEncoder.
/// </summary>
public class PromptGoldenTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData("gpt2-tiny-p_tuning")]
    [InlineData("gpt2-tiny-cartridge")]
    [InlineData("gpt2-tiny-cpt")]
    public void PeftAdapter_LoadsOntoGpt2AndGivesPyTorchLogits(string fixture) => PeftGoldenCheck.LoadsAndGivesPyTorchLogits(fixture, 0);

    [Theory]
    [InlineData("gpt2-tiny-p_tuning")]
    [InlineData("gpt2-tiny-cartridge")]
    [InlineData("gpt2-tiny-cpt")]
    public void PeftAdapter_GradientsAndOneAdamWStepMatchPyTorch(string fixture) => PeftGoldenCheck.GradientsAndOneAdamWStepMatchPyTorch(fixture, output);

    /// <summary>
    /// With PEFT's PromptEncoder weights (its state-dict names), the engine's encoder gives PEFT's prompt (what
    /// get_prompt_embedding_to_save writes, and what the engine saves) and PyTorch's gradients for every encoder tensor.
    /// </summary>
    [Theory]
    [InlineData("MLP")]
    [InlineData("LSTM")]
    public void PTuningEncoder_GivesPeftsPromptAndGradients(string kind)
    {
        var golden = Safetensors.Load(Path.Combine(AppContext.BaseDirectory, "golden", "gpt2-tiny-p_tuning", "encoder.safetensors"));
        var peft = Peft.Apply(Gpt2Checkpoint.Load(Gpt2Folder), new PTuningConfig { NumVirtualTokens = 4, EncoderHiddenSize = 16, EncoderReparameterizationType = kind });
        var part = (PTuning)peft.ModelPart("default")!;
        // PEFT's names, with the table's nn.Embedding weight held as the part's parameter "embedding".
        static string EngineName(string key) => key == "embedding.weight" ? "embedding" : key;
        var state = golden.Where(kv => kv.Key.StartsWith(kind + ".") && !kv.Key.StartsWith(kind + ".grad.") && kv.Key != kind + ".prompt" && kv.Key != kind + ".loss")
            .ToDictionary(kv => EngineName(kv.Key[(kind.Length + 1)..]), kv => kv.Value);
        part.LoadStateDict(state);

        var saved = peft.NamedAdapterTensors("default").Single(t => t.Key == "prompt_embeddings").Tensor;
        AssertClose(golden[kind + ".prompt"], saved, 1e-5, kind + " prompt");
        var ids = golden["input_ids"];
        var loss = PeftGoldenCheck.NextTokenLoss(peft.Forward(ids), ids);
        AssertClose(golden[kind + ".loss"].Item(), loss.Item(), 1e-5, kind + " loss");
        loss.Backward();
        foreach (var (name, p) in part.NamedParameters())
        {
            string key = kind + ".grad." + (name == "embedding" ? "embedding.weight" : name);
            double error = PeftGoldenCheck.RelativeError(golden[key], p.Grad!);
            Assert.True(error <= 1e-4, $"{key} differs from PyTorch by {error:E2} of its largest magnitude");
        }
    }

    /// <summary>
    /// CPT's own loss (PEFT's <c>_cpt_forward</c> and <c>calculate_loss</c>: labels inside the prompt and in the input by
    /// type, "decay" weighting of earlier examples) on the loaded folder: PyTorch's logits for every position, loss and
    /// masked delta gradient.
    /// </summary>
    [Fact]
    public void CptLoss_GivesPeftsLossAndDeltaGradient()
    {
        var folder = Path.Combine(AppContext.BaseDirectory, "golden", "gpt2-tiny-cpt");
        var golden = Safetensors.Load(Path.Combine(folder, "loss.safetensors"));
        var peft = Peft.FromPretrained(Gpt2Checkpoint.Load(Gpt2Folder), folder, trainable: true);
        var cpt = (Cpt)peft.ModelPart("default")!;
        var (logits, loss) = cpt.ForwardWithLoss(peft, golden["input_ids"], golden["labels"], golden["input_type_mask"]);
        AssertClose(golden["logits"], logits, 2e-5, "cpt logits");
        AssertClose(golden["loss"].Item(), loss.Item(), 1e-5, "cpt loss");
        loss.Backward();
        double error = PeftGoldenCheck.RelativeError(golden["grad.delta_embedding"], cpt.Delta.Grad!);
        Assert.True(error <= 1e-4, $"delta gradient differs from PyTorch by {error:E2} of its largest magnitude");
    }
}
