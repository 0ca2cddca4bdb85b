using System.CommandLine;
using Engine.Nn;
using Engine.Pretrained;

namespace Engine.Cli;

/// <summary>
/// <c>engine mmrl</c>: MMRL++'s text-only form (<see cref="MmrlPlusPlus"/>; spec seeds-remaining.md §5's demo) on
/// few-shot spam/ham with the frozen all-MiniLM-L6-v2: zero-shot (cosine of the message and class-description
/// embeddings), a linear probe on the shots' embeddings, and MMRL++ scored three ways (class logits only,
/// representation logits only, the decoupled α mix). Generalisation: the same held-out messages scored against
/// "novel" descriptions of the classes that training never saw, with the class logits only (MMRL++'s rule for novel
/// classes) against zero-shot with them.
/// </summary>
static class MmrlCommand
{
    static readonly string[] BaseDescriptions = ["This is a normal personal or work email.", "This message is unsolicited spam."];
    static readonly string[] NovelDescriptions = ["A note between colleagues, friends or members of a mailing list.", "An advertisement that tries to sell something or promises easy money."];

    public static Command Create()
    {
        var shots = ValidatedOption.Integer("--shots", "training messages per class", 16, min: 1, max: 512);
        var epochs = ValidatedOption.Integer("--epochs", "passes over the shots (batch 4)", 10, min: 1, max: 1000);
        var length = ValidatedOption.Integer("--length", "tokens per message", 128, min: 8, max: 512);
        var heldOut = ValidatedOption.OptionalInteger("--held-out", "score only the first N held-out messages (quick runs)", min: 2);
        var lr = ValidatedOption.Positive("--lr", "AdamW's peak rate (warm-up over the first epoch, cosine decay)", 1e-3);
        var seed = new Option<ulong>("--seed") { Description = "seed of the split, the shots and the initialisation", DefaultValueFactory = _ => 0 };
        var command = new Command("mmrl", "MMRL++ (text form) on few-shot spam/ham with MiniLM: zero-shot, linear probe, MMRL++ with and without decoupled inference, novel descriptions");
        foreach (var o in new Option[] { shots, epochs, length, heldOut, lr, seed }) command.Options.Add(o);
        command.SetAction(r => Run(r.GetValue(shots), r.GetValue(epochs), r.GetValue(length), r.GetValue(heldOut), r.GetValue(lr), r.GetValue(seed), Console.Out));
        return command;
    }

    static int Run(int shots, int epochs, int length, int? heldOutLimit, double lr, ulong seed, TextWriter log)
    {
        var set = new TextClassificationSet(ClassifyCommand.Load("spamassassin"), 0.2, seed);
        var train = Enumerable.Range(0, 2).SelectMany(label => set.Train.Where(e => e.Label == label).Take(shots)).ToList();
        if (train.Count(e => e.Label == 1) < shots || train.Count(e => e.Label == 0) < shots)
            throw new ArgumentException($"--shots {shots}: the training split has fewer messages of a class");
        var test = set.HeldOut.Take(heldOutLimit ?? int.MaxValue).ToList();
        var labels = test.Select(e => e.Label).ToArray();
        var miniLm = SentenceEmbedder.LoadMiniLm();
        var embedder = new SentenceEmbedder(miniLm.Bert, miniLm.Tokenizer, length);
        var clock = System.Diagnostics.Stopwatch.StartNew();

        // Zero-shot and the linear probe on the frozen encoder's unit embeddings.
        var testEmbeddings = embedder.Embed(test.Select(e => e.Text).ToList());
        var shotEmbeddings = embedder.Embed(train.Select(e => e.Text).ToList());
        var baseClasses = embedder.Embed(BaseDescriptions);
        var novelClasses = embedder.Embed(NovelDescriptions);
        double zeroShot = Accuracy(testEmbeddings.MatMul(baseClasses.T), labels);
        double zeroShotNovel = Accuracy(testEmbeddings.MatMul(novelClasses.T), labels);
        var probe = new Linear(384, 2, generator: new Generator(seed + 1));
        var probeOptimizer = new Adam(probe.Parameters(), 1e-2);
        var shotLabels = Tensor.FromArray(train.Select(e => (long)e.Label).ToArray());
        for (int step = 0; step < 200; step++)
        {
            Autograd.Autograd.Backward(Losses.CrossEntropy(probe.Forward(shotEmbeddings), shotLabels));
            probeOptimizer.Step();
            probeOptimizer.ZeroGrad();
        }
        double linearProbe;
        using (Autograd.Autograd.NoGrad()) linearProbe = Accuracy(probe.Forward(testEmbeddings), labels);
        log.WriteLine($"{train.Count} shots ({shots} per class), {test.Count} held-out messages; zero-shot and probe done ({clock.Elapsed.TotalSeconds:F0} s)");

        // MMRL++: the zero-shot features of the shots and descriptions anchor its consistency terms.
        var mmrl = new MmrlPlusPlus(miniLm.Bert, new MmrlConfig(), new Generator(seed + 2));
        var (baseIds, basePadding) = Encode(embedder, BaseDescriptions);
        var zeroShotClasses = RawMeanPool(miniLm.Bert, baseIds, basePadding);
        var order = new Generator(seed + 3);
        int batchesPerEpoch = (train.Count + 3) / 4, steps = epochs * batchesPerEpoch;
        var optimizer = new AdamW(mmrl.Parameters(), lr, weightDecay: 0.01);
        var options = new TrainerOptions(steps, new WarmupCosineSchedule(batchesPerEpoch, steps), Progress: p =>
        {
            if (p.Completed % batchesPerEpoch == 0) log.WriteLine(FormattableString.Invariant($"epoch {p.Completed / batchesPerEpoch}/{epochs}: loss {p.Loss:F4} ({clock.Elapsed.TotalSeconds:F0} s)"));
        });
        int[] permutation = [];
        new Trainer(mmrl, optimizer, options).Run(step =>
        {
            if (step % batchesPerEpoch == 0)
            {
                var keys = Tensor.Rand([train.Count], dtype: DType.Float64, generator: order).ToArray<double>();
                permutation = [.. Enumerable.Range(0, train.Count).OrderBy(i => keys[i])];
            }
            var rows = permutation.Skip(step % batchesPerEpoch * 4).Take(4).ToList();
            var (ids, padding) = Encode(embedder, rows.Select(i => train[i].Text).ToList());
            Tensor zeroShotDocuments;
            using (Autograd.Autograd.NoGrad()) zeroShotDocuments = RawMeanPool(miniLm.Bert, ids, padding);
            var classes = mmrl.Encode(baseIds, basePadding, mmrl.Descriptions).Class;
            return mmrl.Loss(mmrl.Encode(ids, padding, mmrl.Documents), classes, Tensor.FromArray(rows.Select(i => (long)train[i].Label).ToArray()), zeroShotDocuments, zeroShotClasses);
        });

        // Held-out scoring with the representation tokens.
        mmrl.Eval();
        Tensor[] scored;
        using (Autograd.Autograd.NoGrad())
        {
            var baseFeatures = mmrl.Encode(baseIds, basePadding, mmrl.Descriptions).Class;
            var (novelIds, novelPadding) = Encode(embedder, NovelDescriptions);
            var novelFeatures = mmrl.Encode(novelIds, novelPadding, mmrl.Descriptions).Class;
            var classLogits = new List<Tensor>();
            var representationLogits = new List<Tensor>();
            var mixed = new List<Tensor>();
            var novel = new List<Tensor>();
            for (int start = 0; start < test.Count; start += 32)
            {
                var (ids, padding) = Encode(embedder, test.Skip(start).Take(32).Select(e => e.Text).ToList());
                var documents = mmrl.Encode(ids, padding, mmrl.Documents);
                classLogits.Add(mmrl.Logits(documents.Class, baseFeatures));
                representationLogits.Add(mmrl.Logits(documents.Representation, baseFeatures));
                mixed.Add(mmrl.BaseLogits(documents, baseFeatures));
                novel.Add(mmrl.Logits(documents.Class, novelFeatures));
            }
            scored = [.. new[] { classLogits, representationLogits, mixed, novel }.Select(l => Tensor.Concat([.. l], 0))];
        }
        log.WriteLine($"MMRL++ trained and scored ({clock.Elapsed.TotalSeconds:F0} s); {mmrl.ParameterCount(trainableOnly: true):N0} trainable parameters");
        log.WriteLine();
        log.WriteLine("| method | held-out accuracy (base descriptions) | held-out accuracy (novel descriptions) |");
        log.WriteLine("|---|---:|---:|");
        log.WriteLine(FormattableString.Invariant($"| zero-shot (cosine to the descriptions) | {100 * zeroShot:F1}% | {100 * zeroShotNovel:F1}% |"));
        log.WriteLine(FormattableString.Invariant($"| linear probe on the {train.Count} shots | {100 * linearProbe:F1}% | — |"));
        log.WriteLine(FormattableString.Invariant($"| MMRL++, class logits only | {100 * Accuracy(scored[0], labels):F1}% | {100 * Accuracy(scored[3], labels):F1}% |"));
        log.WriteLine(FormattableString.Invariant($"| MMRL++, representation logits only | {100 * Accuracy(scored[1], labels):F1}% | — |"));
        log.WriteLine(FormattableString.Invariant($"| MMRL++, decoupled (α = 0.7 class + 0.3 representation) | {100 * Accuracy(scored[2], labels):F1}% | — |"));
        return 0;
    }

    static (Tensor Ids, Tensor Padding) Encode(SentenceEmbedder embedder, IReadOnlyList<string> texts)
    {
        var batch = embedder.Tokenizer.Encode(texts, embedder.MaxTokens);
        return (batch.Ids, batch.PaddingMask);
    }

    static Tensor RawMeanPool(Bert bert, Tensor ids, Tensor padding) => Bert.MeanPool(bert.Encode(ids, null, padding, null, null), padding);

    static double Accuracy(Tensor logits, int[] labels) =>
        logits.ArgMax(-1).ToArray<long>().Zip(labels, (p, l) => p == l ? 1.0 : 0.0).Average();
}
