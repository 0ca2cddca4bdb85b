using System.CommandLine;
using Engine.Nn;
using Engine.Peft;
using Engine.Pretrained;

namespace Engine.Cli;

/// <summary>
/// <c>engine contrastive</c>: the supervised contrastive loss (<see cref="SupervisedContrastiveLoss"/>; Khosla et al.
/// 2020; spec seeds-remaining.md §11) trains an adapter on the frozen all-MiniLM-L6-v2 so that its sentence embeddings
/// (mean pooling, as sentence-transformers) group spam with spam and ham with ham. Measured: k-nearest-neighbour accuracy
/// on the held-out messages (cosine similarity to the training messages' embeddings, majority of k) before and after,
/// and the held-out SupCon loss. No classification head is trained: the figure is about the embedding space itself.
/// </summary>
static class ContrastiveCommand
{
    public static Command Create()
    {
        var data = new Option<string>("--data") { Description = "JSON lines with subject, body, label (default: the embedded SpamAssassin subset)", DefaultValueFactory = _ => "spamassassin" };
        var adapter = new Option<string>("--adapter") { Description = "a layer adapter of the registry on MiniLM's query, key, value and dense modules", DefaultValueFactory = _ => "lora" };
        var steps = ValidatedOption.Integer("--steps", "training steps", 100, min: 1, max: 1_000_000);
        var batch = ValidatedOption.Integer("--batch", "messages per SupCon batch (every message's positives are the others of its class)", 32, min: 2, max: 4096);
        var length = ValidatedOption.Integer("--length", "tokens per message at most", 128, min: 2, max: 512);
        var lr = ValidatedOption.OptionalPositive("--lr", "peak learning rate (AdamW, warm-up and cosine decay; default 1e-3)");
        var temperature = ValidatedOption.OptionalPositive("--temperature", "τ of the loss (default 0.1)");
        var neighbours = ValidatedOption.Integer("--neighbours", "k of the k-nearest-neighbour vote", 5, min: 1);
        var seed = new Option<ulong>("--seed") { Description = "seed of the split, batches and adapter initialisation", DefaultValueFactory = _ => 0 };
        var command = new Command("contrastive", "supervised contrastive training (SupCon) of an adapter on MiniLM's spam/ham embeddings; k-NN accuracy before and after");
        foreach (var o in new Option[] { data, adapter, steps, batch, length, lr, temperature, neighbours, seed }) command.Options.Add(o);
        command.SetAction(r => Run(ClassifyCommand.Load(r.GetValue(data)!), r.GetValue(adapter)!, r.GetValue(steps), r.GetValue(batch), r.GetValue(length),
            r.GetValue(lr) ?? 1e-3, r.GetValue(temperature) ?? 0.1, r.GetValue(neighbours), r.GetValue(seed)));
        return command;
    }

    static int Run(List<(string Text, int Label)> examples, string method, int steps, int batchSize, int maxTokens, double lr, double temperature, int k, ulong seed)
    {
        var config = PeftRegistry.ByCliName(method) switch
        {
            var (info, _) when info.LayerType is null || info.Capabilities.HasFlag(AdapterCapabilities.InputSide) => throw new ArgumentException($"--adapter {method}: contrastive trains adapters of layers; {info.PeftType} works through a model-level part, which it does not run"),
            var (info, variant) => info.Preset(AdapterPreset.ForBert(8, steps, seed), variant),
        };
        if (config is ICalibratedConfig { CalibrationNeed: not null })
            throw new ArgumentException($"--adapter {method}: its initialisation runs on a classifier's labelled batches; use engine classify for it");
        var set = new TextClassificationSet(examples, 0.2, seed);
        if (k > set.Train.Count) throw new ArgumentException($"--neighbours {k} is more than the {set.Train.Count} training messages");
        Console.WriteLine($"data: {examples.Count} messages ({set.Train.Count(e => e.Label == 1)} spam of {set.Train.Count} train, {set.HeldOut.Count} held out), {maxTokens} tokens each at most");
        var model = TextClassifier.CreateOnMiniLm(config, classes: 2, maxTokens, seed);
        var bert = model.Classifier.Bert;
        Console.WriteLine($"model: all-MiniLM-L6-v2 (frozen), mean pooling; {method}: {ClassifierTraining.Count(model.Peft!)}");

        var before = Measure(model, set, k, temperature);
        Console.WriteLine($"before: {before}");

        var batches = new Generator(seed + 1);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        ClassifierTraining.Run(model.Peft!, steps, lr, printEvery: 25, () =>
        {
            var pick = Tensor.Randint(0, set.Train.Count, [batchSize], generator: batches).ToArray<long>();
            var tokens = model.Tokenize(pick.Select(i => set.Train[(int)i].Text).ToList());
            var pooled = Bert.MeanPool(bert.Encode(tokens.Ids, null, tokens.PaddingMask, null, null), tokens.PaddingMask);
            return SupervisedContrastiveLoss.Compute(pooled, pick.Select(i => (long)set.Train[(int)i].Label).ToArray(), temperature);
        });
        double seconds = clock.Elapsed.TotalSeconds;

        var after = Measure(model, set, k, temperature);
        Console.WriteLine($"after {steps} steps ({seconds:F0} s): {after}");
        return 0;
    }

    /// <summary>What the embeddings give on the held-out split: k-NN accuracy and the SupCon loss of the whole split.</summary>
    sealed record Figures(int K, double Accuracy, double HeldOutLoss)
    {
        public override string ToString() => FormattableString.Invariant($"{K}-NN accuracy {100 * Accuracy:F1}%, held-out SupCon loss {HeldOutLoss:F4}");
    }

    static Figures Measure(TextClassifier model, TextClassificationSet set, int k, double temperature)
    {
        bool training = model.Classifier.Training;
        model.Classifier.Eval();
        var embedder = new SentenceEmbedder(model.Classifier.Bert, model.Tokenizer, model.MaxTokens);
        var train = embedder.Embed(set.Train.Select(e => e.Text).ToList());
        var heldOut = embedder.Embed(set.HeldOut.Select(e => e.Text).ToList());
        model.Classifier.Train(training);
        var predicted = NearestNeighbours.Vote(heldOut, train, set.Train.Select(e => e.Label).ToList(), k);
        double accuracy = predicted.Zip(set.HeldOut, (p, e) => p == e.Label ? 1.0 : 0.0).Average();
        double loss;
        using (Autograd.Autograd.NoGrad()) loss = SupervisedContrastiveLoss.Compute(heldOut, set.HeldOut.Select(e => (long)e.Label).ToArray(), temperature).Item();
        return new Figures(k, accuracy, loss);
    }
}
