using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Engine.Nn;

namespace Engine.Cli;

/// <summary>
/// <c>engine nas</c>: TangleNAS (spec §6, issue 23) on the names job. A weight-entangled GPT supernet (embed {32, 48,
/// 64}, heads {2, 4} and MLP ratio {2, 4} per layer, layers {2, 3, 4}) is searched by alternating first-order steps
/// with the DrNAS or DARTS sampler (<see cref="TangleNasSearch"/>); the argmax architecture and a random one are then
/// retrained from scratch for the same steps and their validation losses compared. Also prints the supernet's
/// parameter count and the analytic floats of the entangled mix against a |C|-way DARTS mix. SPOS is not implemented.
/// </summary>
static class NasCommand
{
    /// <summary>What a run measured.</summary>
    public sealed record Result(SupernetArchitecture Chosen, SupernetArchitecture Random, double ChosenLoss, double RandomLoss, long SupernetParameters,
        long EntangledFloats, long DartsFloats, double SearchSeconds);

    public static Command Create()
    {
        var data = new Option<string>("--data") { Description = "names file (UTF-8, one per line), or an embedded set: female, male, all", DefaultValueFactory = _ => "female" };
        var sampler = new Option<string>("--sampler") { Description = "architecture sampler: drnas (Dirichlet) or darts (softmax)", DefaultValueFactory = _ => "drnas" };
        var steps = ValidatedOption.Integer("--steps", "alternating search steps (each one arch and one weight step)", 300, min: 1);
        var retrain = ValidatedOption.Integer("--retrain-steps", "steps to retrain the chosen and the random architecture from scratch", 300, min: 1);
        var batch = ValidatedOption.Integer("--batch", "sequences per batch", 32, min: 1);
        var context = ValidatedOption.Integer("--context", "tokens per sequence", 16, min: 2);
        var lr = ValidatedOption.Positive("--lr", "peak AdamW rate of the weights (warm-up + cosine)", 2e-3);
        var archLr = ValidatedOption.Positive("--arch-lr", "Adam rate of the architecture parameters (TangleNAS: 3e-4)", 3e-4);
        var seed = new Option<ulong>("--seed") { Description = "seed of data order, initialisation and sampling", DefaultValueFactory = _ => 1 };
        var quick = new Option<bool>("--quick") { Description = "a few steps on tiny batches (a smoke test)" };
        var command = new Command("nas", "TangleNAS: gradient-based architecture search on a weight-entangled GPT supernet (names job), then retrain the chosen and a random architecture");
        foreach (var o in new Option[] { data, sampler, steps, retrain, batch, context, lr, archLr, seed, quick }) command.Options.Add(o);
        command.SetAction(r =>
        {
            bool q = r.GetValue(quick);
            Run(r.GetValue(data)!, r.GetValue(sampler)!, q ? 3 : r.GetValue(steps), q ? 3 : r.GetValue(retrain), q ? 4 : r.GetValue(batch),
                q ? 8 : r.GetValue(context), r.GetValue(lr), r.GetValue(archLr), r.GetValue(seed), Console.Out);
            return 0;
        });
        return command;
    }

    /// <summary>Searches, prints the architecture weights and choice, retrains the chosen and a random architecture.</summary>
    /// <exception cref="ArgumentException">An unknown sampler, or data too small for the context.</exception>
    public static Result Run(string data, string samplerName, int steps, int retrainSteps, int batch, int context, double lr, double archLr, ulong seed, TextWriter log)
    {
        IArchitectureSampler sampler = samplerName switch
        {
            "drnas" => new DrnasSampler(new Generator(seed + 3)),
            "darts" => new DartsSampler(),
            _ => throw new ArgumentException($"--sampler '{samplerName}': expected drnas or darts"),
        };
        var texts = EmbeddedData.Load(data);
        var tokenizer = CharTokenizer.FromTexts(EmbeddedData.Load("all").Concat(texts));
        var corpus = NamesData.Corpus(texts, tokenizer, seed, data, context, $"--context {context}");
        // train_portion 0.5: weights learn from the first half of the training names, the α's from the second
        // (each half's corpus holds one name out as its own unused validation).
        int half = corpus.TrainTexts.Count / 2;
        if (half < 2) throw new ArgumentException($"--data '{data}': {corpus.TrainTexts.Count} training names cannot be halved for the search; give more names");
        var weightHalf = new NamesCorpus(corpus.TrainTexts.Take(half).ToList(), tokenizer, 0, seed);
        var archHalf = new NamesCorpus(corpus.TrainTexts.Skip(half).ToList(), tokenizer, 0, seed);
        foreach (var h in new[] { weightHalf, archHalf })
            if (h.TrainTokens < context + 2) throw new ArgumentException($"--data '{data}': half of the training names give {h.TrainTokens} tokens; --context {context} needs {context + 2}");

        var config = GptSupernetConfig.Names(tokenizer.VocabSize, context);
        var supernet = new GptSupernet(config, new Generator(seed));
        long parameters = supernet.ParameterCount();
        var (entangled, darts) = EntangledMixMemory.Floats(supernet, (long)batch * context);
        log.WriteLine(Inv($"supernet: {parameters:N0} parameters; mixed linears hold {entangled:N0} floats entangled vs {darts:N0} as a |C|-way DARTS mix ({darts / (double)entangled:F2}x) for {batch}x{context} tokens"));

        var clock = Stopwatch.StartNew();
        int every = Math.Max(1, steps / 10);
        TangleNasSearch.Run(supernet, sampler, weightHalf, archHalf, new TangleNasOptions(steps, batch, context, lr, archLr, seed + 1), (s, wl, al) =>
        {
            if ((s + 1) % every == 0 || s + 1 == steps) log.WriteLine(Inv($"search step {s + 1}/{steps}: weight loss {wl:F4}, arch loss {al:F4}, {clock.Elapsed.TotalSeconds:F0} s"));
        });
        double searchSeconds = clock.Elapsed.TotalSeconds;
        PrintWeights(supernet, samplerName, log);

        var chosen = supernet.Argmax();
        var random = SupernetArchitecture.Random(config, new Generator(seed + 99));
        log.WriteLine($"chosen: {chosen}");
        log.WriteLine($"random: {random}");
        double chosenLoss = Retrain(config, chosen, corpus, retrainSteps, batch, context, lr, seed + 5);
        double randomLoss = Retrain(config, random, corpus, retrainSteps, batch, context, lr, seed + 5);
        log.WriteLine(Inv($"retrained {retrainSteps} steps: chosen validation loss {chosenLoss:F4}, random {randomLoss:F4} (unigram baseline {corpus.UnigramBaseline():F4}); search took {searchSeconds:F0} s, all {clock.Elapsed.TotalSeconds:F0} s"));
        return new(chosen, random, chosenLoss, randomLoss, parameters, entangled, darts, searchSeconds);
    }

    // The mean choice weights: softmax(α) for DARTS, the Dirichlet mean (ELU(α)+1)/Σ for DrNAS.
    static void PrintWeights(GptSupernet supernet, string sampler, TextWriter log)
    {
        string Row(Tensor alpha, int[] choices)
        {
            var a = alpha.Detach();
            var w = sampler == "darts" ? a.Softmax(-1) : DrnasSampler.Concentration(a) / DrnasSampler.Concentration(a).Sum(-1, keepDim: true);
            var v = w.To(DType.Float64).ToArray<double>();
            return string.Join(" ", choices.Select((c, i) => Inv($"{c}:{v[i]:F3}")));
        }
        var c = supernet.Config;
        log.WriteLine($"arch weights ({sampler}, mean): layers {Row(supernet.AlphaLayers, c.LayerChoices)} | embed {Row(supernet.AlphaEmbed, c.EmbedChoices)}");
        for (int i = 0; i < c.LayersMax; i++)
            log.WriteLine($"  block {i}: heads {Row(supernet.AlphaHeads.Select(0, i), c.HeadChoices)} | mlp {Row(supernet.AlphaMlp.Select(0, i), c.MlpRatioChoices)}");
    }

    // A fresh supernet with the architecture's one-hot weights (only its slices compute and learn), trained from scratch.
    static double Retrain(GptSupernetConfig config, SupernetArchitecture architecture, NamesCorpus corpus, int steps, int batch, int context, double lr, ulong seed)
    {
        var net = new GptSupernet(config, new Generator(seed));
        var w = ArchitectureWeights.OneHot(config, architecture);
        net.Train();
        var optimizer = new AdamW(WeightDecayGroups.Build(net, lr, 0.1), beta2: 0.99);
        var schedule = new WarmupCosineSchedule(Math.Min(100, steps / 10), steps, 0.1);
        var data = new Generator(seed + 1);
        for (int step = 0; step < steps; step++)
        {
            LrScheduler.Apply(optimizer, schedule, step);
            var (x, y) = corpus.Batch(batch, context, data);
            var loss = Losses.CrossEntropy(net.Forward(x, w), y);
            if (!double.IsFinite(loss.Item())) throw new TrainingDivergedException($"nas retraining of {architecture}", step, loss.Item(), "Try a lower --lr.");
            optimizer.ZeroGrad();
            Autograd.Autograd.Backward(loss);
            GradClip.ClipGradNorm(net.Parameters(), 1.0);
            optimizer.Step();
        }
        return NamesAdaptation.ValidationLoss(net, ids => net.Forward(ids, w), corpus, context);
    }

    static string Inv(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
