using System.CommandLine;
using Engine.Nn;
using Engine.Peft;
using Engine.Peft.LowRank;
using Engine.Peft.Retrieval;
using Engine.Pretrained;
using PeftApi = Engine.Peft.Peft;

namespace Engine.Cli;

/// <summary>
/// <c>engine autolora</c>: AutoLoRA's retrieval and gated fusion on the names job (spec seeds-remaining.md §1's demo,
/// smaller). A library of rank-2 LoRAs, one per (attribute, seed), each trained on the names with that attribute
/// ("ends in a", "four letters or fewer", ...); each attribute's description is embedded with the frozen MiniLM. The
/// weight encoder (<see cref="LoraWeightEncoder"/>) is trained by symmetric InfoNCE on the first seed's LoRAs and
/// evaluated on the others (a LoRA of a seed it never saw, queried with its attribute's description, against chance).
/// Then a query is answered by the top 3 LoRAs of the whole library, fused with <see cref="GatedLoraFusion"/> at every
/// adapted module; only the gates train, on names that fit the query, and the held-out loss is compared with each
/// retrieved LoRA alone and with their uniform mix (the gates at initialisation).
/// </summary>
static class AutoloraCommand
{
    sealed record Attribute(string Description, Func<string, bool> Has);

    static readonly Attribute[] Attributes =
    [
        new("names that begin with a vowel", n => "aeiou".Contains(char.ToLowerInvariant(n[0]))),
        new("names that end in the letter a", n => n.EndsWith('a')),
        new("short names of four letters or fewer", n => n.Length <= 4),
        new("names that contain a double l", n => n.Contains("ll", StringComparison.OrdinalIgnoreCase)),
        new("names that end in the letter n", n => n.EndsWith('n')),
        new("names that start with the letter j", n => char.ToLowerInvariant(n[0]) == 'j'),
        new("long names of eight letters or more", n => n.Length >= 8),
        new("names that end in y or ie", n => n.EndsWith('y') || n.EndsWith("ie")),
        new("names that start with the letter m", n => char.ToLowerInvariant(n[0]) == 'm'),
        new("names that end in the letter e", n => n.EndsWith('e')),
    ];

    public static Command Create()
    {
        var checkpoint = new Option<string>("--checkpoint") { Description = "names model written by `engine train`", DefaultValueFactory = _ => TrainCommand.DefaultCheckpoint };
        var seeds = ValidatedOption.Integer("--seeds", "LoRAs per attribute (different seeds and data orders); the first seed's train the encoder", 3, min: 2, max: 10);
        var steps = ValidatedOption.Integer("--steps", "training steps of each library LoRA", 40, min: 1);
        var encoderSteps = ValidatedOption.Integer("--encoder-steps", "Adam steps of the weight encoder", 300, min: 1);
        var gateSteps = ValidatedOption.Integer("--gate-steps", "steps training the fusion gates", 60, min: 1);
        var seed = new Option<ulong>("--seed") { Description = "base seed", DefaultValueFactory = _ => 1 };
        var command = new Command("autolora", "AutoLoRA on names: a LoRA library, a weight encoder trained to match descriptions, held-out retrieval, and gated fusion of the retrieved LoRAs");
        foreach (var o in new Option[] { checkpoint, seeds, steps, encoderSteps, gateSteps, seed }) command.Options.Add(o);
        command.SetAction(r => Run(r.GetValue(checkpoint)!, r.GetValue(seeds), r.GetValue(steps), r.GetValue(encoderSteps), r.GetValue(gateSteps), r.GetValue(seed), Console.Out));
        return command;
    }

    static int Run(string checkpointPath, int seeds, int steps, int encoderSteps, int gateSteps, ulong seed, TextWriter log)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var names = EmbeddedData.Load("all");
        var (probe, tokenizer, _) = NamesModelFile.Load(checkpointPath);
        int context = probe.Config.ContextLength;
        var miniLm = SentenceEmbedder.LoadMiniLm();
        var descriptions = miniLm.Embed(Attributes.Select(a => a.Description).ToList());

        // The library: (attribute, seed) → LoRA weights as the encoder reads them.
        var library = new List<(int Attribute, int Seed, IReadOnlyList<LoraModuleWeights> Weights)>();
        List<string>? paths = null;
        for (int s = 0; s < seeds; s++)
            for (int a = 0; a < Attributes.Length; a++)
            {
                var subset = names.Where(Attributes[a].Has).ToList();
                var corpus = NamesData.Corpus(subset, tokenizer, seed + (ulong)s, Attributes[a].Description, context, "the model's context");
                var (gpt, _, _) = NamesModelFile.Load(checkpointPath);
                var config = NamesAdaptation.ConfigFor("lora", 2, steps, seed + (ulong)(100 * s + a), new Dictionary<string, string>())!;
                var peft = PeftApi.Apply(gpt, config);
                var optimizer = new AdamW(peft.ParamGroups(1e-2, 0));
                var generator = new Generator(seed + (ulong)(1000 * s + a));
                new Trainer(peft, optimizer, new TrainerOptions(steps, MaxGradNorm: 1.0)).Run(_ =>
                {
                    var (x, y) = corpus.Batch(32, context, generator);
                    return Losses.CrossEntropy(peft.Forward(x), y);
                });
                var adapted = peft.AdapterLayers().ToList();
                paths ??= [.. adapted.Select(l => l.Path)];
                library.Add((a, s, LoraModuleWeights.FromLayers([.. adapted.Select(l => (LoraLayer)l.Layer)], "default", i => Describe(adapted[i].Path, paths))));
            }
        log.WriteLine($"library: {library.Count} rank-2 LoRAs ({Attributes.Length} attributes x {seeds} seeds, {steps} steps each) on {paths!.Count} modules ({clock.Elapsed.TotalSeconds:F0} s)");

        // The retriever: trained on seed 0's LoRAs, tested on the others against all LoRAs of their seed.
        var encoder = new LoraWeightEncoder(new LoraWeightEncoderOptions(MaxFeatures: 4 * probe.Config.DModel, Layers: probe.Config.Layers, ModuleTypes: 4, Seed: seed));
        var retriever = new LoraRetriever(encoder);
        var train = library.Where(l => l.Seed == 0).ToList();
        var losses = retriever.Train([.. train.Select(l => l.Weights)], descriptions.IndexSelect(0, Tensor.FromArray(train.Select(l => (long)l.Attribute).ToArray())), encoderSteps);
        int top1 = 0, top3 = 0, queries = 0;
        using (Autograd.Autograd.NoGrad())
            for (int s = 1; s < seeds; s++)
            {
                var held = library.Where(l => l.Seed == s).ToList();
                var embedded = encoder.EncodeAll([.. held.Select(l => l.Weights)]);
                for (int a = 0; a < Attributes.Length; a++)
                {
                    var ranked = LoraRetriever.Retrieve(descriptions.Select(0, a), embedded, 3);
                    queries++;
                    if (held[ranked[0]].Attribute == a) top1++;
                    if (ranked.Any(i => held[i].Attribute == a)) top3++;
                }
            }
        log.WriteLine(FormattableString.Invariant($"retriever: InfoNCE {losses[0]:F3} -> {losses[^1]:F3} over {encoderSteps} steps; held-out seeds: top-1 {100.0 * top1 / queries:F1}%, top-3 {100.0 * top3 / queries:F1}% of {queries} queries (chance {100.0 / Attributes.Length:F1}% and {300.0 / Attributes.Length:F1}%) ({clock.Elapsed.TotalSeconds:F0} s)"));

        // Fusion: a query no single attribute answers.
        const string query = "short names that end in a";
        Func<string, bool> fits = n => n.Length <= 5 && n.EndsWith('a');
        var queryEmbedding = miniLm.Embed([query]).Select(0, 0);
        Tensor all;
        using (Autograd.Autograd.NoGrad()) all = encoder.EncodeAll([.. library.Select(l => l.Weights)]);
        var picked = LoraRetriever.Retrieve(queryEmbedding, all, 3);
        log.WriteLine($"query '{query}': retrieved " + string.Join(", ", picked.Select(i => $"'{Attributes[library[i].Attribute].Description}' (seed {library[i].Seed})")));
        var target = NamesData.Corpus(names.Where(fits).ToList(), tokenizer, seed, query, context, "the model's context");

        double Evaluate(IReadOnlyList<int> members, int trainSteps)
        {
            var (gpt, _, _) = NamesModelFile.Load(checkpointPath);
            gpt.RequiresGrad(false);
            var fusions = new List<GatedLoraFusion>();
            for (int m = 0; m < paths.Count; m++)
            {
                string path = paths[m];
                int cut = path.LastIndexOf('.');
                var parent = gpt.NamedModules().First(x => x.Name == path[..cut]).Module;
                var baseLinear = (Linear)gpt.NamedModules().First(x => x.Name == path).Module;
                var fusion = new GatedLoraFusion(baseLinear, [.. members.Select(i => (library[i].Weights[m].A, library[i].Weights[m].B, library[i].Weights[m].Scaling))], queryEmbedding.Size(0)) { Query = queryEmbedding };
                parent.ReplaceModule(path[(cut + 1)..], fusion);
                fusions.Add(fusion);
            }
            if (trainSteps > 0)
            {
                var optimizer = new Adam(fusions.SelectMany(f => f.Gate.Parameters()), 1e-2);
                var generator = new Generator(seed + 7);
                for (int step = 0; step < trainSteps; step++)
                {
                    var (x, y) = target.Batch(32, context, generator);
                    Autograd.Autograd.Backward(Losses.CrossEntropy(gpt.Forward(x), y));
                    optimizer.Step();
                    optimizer.ZeroGrad();
                }
            }
            return NamesAdaptation.ValidationLoss(gpt, gpt.Forward, target, context);
        }

        var (plain, _, _) = NamesModelFile.Load(checkpointPath);
        double baseLoss = NamesAdaptation.ValidationLoss(plain, plain.Forward, target, context);
        var singles = picked.Select(i => Evaluate([i], 0)).ToArray();
        double uniform = Evaluate(picked, 0);
        double gated = Evaluate(picked, gateSteps);
        log.WriteLine();
        log.WriteLine($"| model on held-out '{query}' names | validation loss |");
        log.WriteLine("|---|---:|");
        log.WriteLine(FormattableString.Invariant($"| base | {baseLoss:F4} |"));
        for (int j = 0; j < picked.Length; j++)
            log.WriteLine(FormattableString.Invariant($"| retrieved LoRA {j + 1} alone ({Attributes[library[picked[j]].Attribute].Description}) | {singles[j]:F4} |"));
        log.WriteLine(FormattableString.Invariant($"| uniform mix of the three (gates at 0) | {uniform:F4} |"));
        log.WriteLine(FormattableString.Invariant($"| gated fusion, gates trained {gateSteps} steps | {gated:F4} |"));
        log.WriteLine($"({clock.Elapsed.TotalSeconds:F0} s in all)");
        return 0;
    }

    // (layer index, module type) of an adapted path such as "blocks.2.attn.qkv": the first number, and the order in
    // which the path's last two names first appear.
    static (int Layer, int ModuleType) Describe(string path, IReadOnlyList<string> paths)
    {
        var parts = path.Split('.');
        int layer = parts.Select(p => int.TryParse(p, out int v) ? v : -1).First(v => v >= 0);
        string Kind(string p) { var q = p.Split('.'); return string.Join('.', q[^2..]); }
        var kinds = paths.Select(Kind).Distinct().ToList();
        return (layer, kinds.IndexOf(Kind(path)));
    }
}
