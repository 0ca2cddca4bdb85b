using Engine.Peft;
using PeftApi = Engine.Peft.Peft;

namespace Engine.Pretrained.Tests;

/// <summary>
/// Every registered adapter method (and variant) applies to a BERT classifier by PEFT's target names for BERT
/// (<see cref="AdapterPreset.ForBert"/>), trains (finite gradients that reach the adapter) and leaves the frozen
/// encoder frozen.
/// </summary>
public sealed class BertAdapterTests
{
    static BertClassifier TinyClassifier() =>
        new(new Bert(new BertConfig(VocabSize: 40, Hidden: 16, Layers: 2, Heads: 2, Intermediate: 32, MaxPositions: 24), new Generator(3)),
            classes: 2, dropout: 0.0, new Generator(4));

    public static TheoryData<string> Methods()
    {
        var data = new TheoryData<string>();
        foreach (var name in PeftRegistry.CliNames()) data.Add(name);
        return data;
    }

    [Theory]
    [MemberData(nameof(Methods))]
    public void Every_method_adapts_a_Bert_classifier_and_trains(string method)
    {
        var (info, variant) = PeftRegistry.ByCliName(method);
        var config = info.Preset(AdapterPreset.ForBert(4, steps: 10, seed: 5), variant) with { ModulesToSave = ["classifier"] };
        // ScaLearn's preset asks a job to train its sources single-task first (the names job does); here its in-place
        // stand-ins (non-zero bottlenecks) show the mechanics on the encoder: ω over frozen sources after output.dense.
        if (config is Engine.Peft.Transfer.ScaLearnConfig scalearn) config = scalearn with { SourcesNeedTraining = false };
        var classifier = TinyClassifier();
        var ids = Tensor.FromArray(new long[] { 2, 5, 7, 9, 0, 0, 3, 4, 1, 8, 6, 11 }, [2, 6]);
        var padding = Tensor.FromArray(new[] { false, false, false, false, true, true, false, false, false, false, false, false }, [2, 6]);
        var labels = Tensor.FromArray(new long[] { 0, 1 }, [2]);
        // Data-driven initialisations (CorDA, LoRA-GA) calibrate on the same batch.
        var calibration = config is ICalibratedConfig { CalibrationNeed: not null }
            ? new CalibrationData(1, _ => Losses.CrossEntropy(classifier.Forward(ids, padding), labels)) : null;
        // Decoder-only methods: X-LoRA's classifier reads a last hidden state the classifier does not expose, and
        // adaption prompt adapts GPT-style `attn` modules (PEFT: llama, mistral, gpt2). Both refuse by name, and the
        // refusal leaves the classifier unadapted.
        if (method is "xlora" or "adaption_prompt")
        {
            var before = classifier.NamedParameters().Select(p => p.Name).ToList();
            var refusal = Assert.ThrowsAny<Exception>(() => PeftApi.Apply(classifier, config, calibration: calibration));
            Assert.True(refusal is NotSupportedException or ArgumentException, refusal.ToString());
            Assert.Contains(method == "xlora" ? "X-LoRA" : "attn", refusal.Message);
            Assert.Equal(before, classifier.NamedParameters().Select(p => p.Name).ToList());
            return;
        }
        var peft = PeftApi.Apply(classifier, config, calibration: calibration);

        if (info.LayerType is not null)
        {
            var adapted = peft.AdapterLayers().Select(l => l.Path).Where(p => p != "classifier").ToList(); // the head is a module to save
            Assert.NotEmpty(adapted);
            // Weight methods adapt PEFT's BERT projections; LN tuning the norms; trainable tokens the word embeddings; DePT the position table.
            var expected = method switch
            {
                "ln_tuning" => @"\.LayerNorm$",
                "trainable_tokens" => @"\.word_embeddings$",
                "dept" => @"\.position_embeddings$", // DePT's position-wise embedding update
                _ => @"\.(query|key|value|dense)$",
            };
            Assert.All(adapted, p => Assert.Matches(expected, p));
            Assert.DoesNotContain(adapted, p => p.Contains("pooler"));
        }

        // Input-side methods (prompt, prefix) run through the PeftModel, which takes no padding mask.
        var logits = peft.ActiveInputAdapter is not null ? peft.Forward(ids) : classifier.Forward(ids, padding);
        var loss = Losses.CrossEntropy(logits, labels);
        loss.Backward();

        var trainable = peft.NamedParameters().Where(p => p.Parameter.RequiresGrad).ToList();
        Assert.NotEmpty(trainable);
        // The frozen encoder stays frozen: no base table or projection weight trains (trainable tokens train their own rows).
        Assert.DoesNotContain(trainable, p => p.Name.EndsWith("word_embeddings.weight", StringComparison.Ordinal) || p.Name.EndsWith("query.weight", StringComparison.Ordinal));
        double total = 0;
        foreach (var (name, parameter) in trainable)
        {
            var grad = parameter.Grad?.ToDoubleArray() ?? [];
            Assert.All(grad, g => Assert.True(double.IsFinite(g), $"{method}: {name} has a non-finite gradient"));
            if (!name.Contains("classifier")) total += grad.Sum(g => g * g);
        }
        Assert.True(total > 0, $"{method}: no gradient reaches the adapter's own tensors");
    }
}
