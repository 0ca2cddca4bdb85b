using System.CommandLine;
using Engine.Nn;
using Engine.Pretrained;

namespace Engine.Cli;

/// <summary>
/// <c>engine task-experts</c>: multi-task bottoms on three tasks derived from the SpamAssassin subset (spec
/// seeds-remaining.md §7; <see cref="SpamTaskData"/>): single-task models, hard sharing, MMoE, DTRN + MMoE, APEM and
/// OFVL-MS's gated sharing, each trained with Adam on the summed binary cross-entropies from the same initial seed and
/// batches; per-task held-out AUC and the negative transfer (multi-task AUC − single-task AUC) are printed as a table.
/// </summary>
static class TaskExpertsCommand
{
    public static Command Create()
    {
        var steps = ValidatedOption.Integer("--steps", "Adam steps per model", 600, min: 1, max: 1_000_000);
        var batch = ValidatedOption.Integer("--batch", "messages per step", 64, min: 1, max: 4096);
        var dim = ValidatedOption.Integer("--dim", "width d of the field tokens", 32, min: 2, max: 384);
        var lr = ValidatedOption.Positive("--lr", "Adam learning rate", 3e-3);
        var limit = ValidatedOption.OptionalInteger("--limit", "use only the first N messages (quick runs)", min: 20);
        var length = ValidatedOption.Integer("--length", "tokens per field at most when MiniLM encodes it", 64, min: 2, max: 512);
        var seed = new Option<ulong>("--seed") { Description = "seed of the split, initialisation and batches", DefaultValueFactory = _ => 0 };
        var command = new Command("task-experts", "multi-task bottoms on spam/reply/list tasks from SpamAssassin with frozen MiniLM fields: shared-bottom, MMoE, DTRN, APEM, OFVL gating; per-task AUC and negative transfer");
        foreach (var o in new Option[] { steps, batch, dim, lr, limit, length, seed }) command.Options.Add(o);
        command.SetAction(r => Run(r.GetValue(steps), r.GetValue(batch), r.GetValue(dim), r.GetValue(lr), r.GetValue(limit), r.GetValue(length), r.GetValue(seed), Console.Out));
        return command;
    }

    static int Run(int steps, int batchSize, int dim, double lr, int? limit, int length, ulong seed, TextWriter log)
    {
        var messages = ClassifyCommand.Load("spamassassin").Select(e =>
        {
            int cut = e.Text.IndexOf('\n');
            return (Subject: cut < 0 ? e.Text : e.Text[..cut], Body: cut < 0 ? "" : e.Text[(cut + 1)..], Spam: e.Label);
        }).Take(limit ?? int.MaxValue).ToList();
        var miniLm = SentenceEmbedder.LoadMiniLm();
        var data = SpamTaskData.Build(messages, new SentenceEmbedder(miniLm.Bert, miniLm.Tokenizer, length), subjectTokens: 16, bodyTokens: 48, log);
        int tasks = SpamTaskData.TaskNames.Length;
        var keys = Tensor.Rand([data.Count], dtype: DType.Float64, generator: new Generator(seed)).ToArray<double>();
        var order = Enumerable.Range(0, data.Count).OrderBy(i => keys[i]).ToArray();
        int held = Math.Max(10, data.Count / 5);
        var train = order[..^held];
        var test = order[^held..];
        log.WriteLine($"{data.Count} messages ({train.Length} train, {test.Length} held out); positives per task: " +
            string.Join(", ", Enumerable.Range(0, tasks).Select(t => $"{SpamTaskData.TaskNames[t]} {Enumerable.Range(0, data.Count).Count(i => data.Labels[i, t] == 1)}")));

        var single = new double[tasks];
        for (int t = 0; t < tasks; t++)
        {
            var model = new SharedBottomModel(1, dim, new Generator(seed + 10));
            single[t] = Train(model, data, train, test, [t], steps, batchSize, lr, seed, log, $"single-task {SpamTaskData.TaskNames[t]}")[0];
        }
        var rows = new List<(string Name, long Parameters, double[] Auc, string Note)>
        {
            ("single-task (one shared-bottom model per task)", 0, single, ""),
        };
        var all = Enumerable.Range(0, tasks).ToArray();
        foreach (var (name, make) in new (string, Func<TaskExpertModel>)[]
        {
            ("shared bottom", () => new SharedBottomModel(tasks, dim, new Generator(seed + 10))),
            ("MMoE (4 experts)", () => new MmoeModel(tasks, dim, new Generator(seed + 10))),
            ("DTRN bottoms + MMoE", () => new DtrnMmoeModel(tasks, dim, new Generator(seed + 10))),
            ("APEM", () => new ApemModel(tasks, dim, new Generator(seed + 10))),
            ("OFVL-MS gated sharing", () => new OfvlModel(tasks, dim, new Generator(seed + 10))),
        })
        {
            var model = make();
            var auc = Train(model, data, train, test, all, steps, batchSize, lr, seed, log, name);
            rows.Add((name, model.ParameterCount(), auc, model is OfvlModel ofvl ? ofvl.GateSummary(SpamTaskData.TaskNames) : ""));
        }

        log.WriteLine();
        log.WriteLine($"| model | parameters | " + string.Join(" | ", SpamTaskData.TaskNames.Select(n => $"AUC {n}")) + " | mean AUC | transfer (mean of AUC − single-task) |");
        log.WriteLine("|---|---:|" + string.Concat(Enumerable.Repeat("---:|", tasks)) + "---:|---:|");
        foreach (var (name, parameters, auc, _) in rows)
            log.WriteLine(FormattableString.Invariant($"| {name} | {(parameters == 0 ? "3 models" : parameters.ToString("N0"))} | {string.Join(" | ", auc.Select(a => a.ToString("F4", System.Globalization.CultureInfo.InvariantCulture)))} | {auc.Average():F4} | {(auc == single ? "—" : (auc.Zip(single, (a, s) => a - s).Average()).ToString("+0.0000;-0.0000", System.Globalization.CultureInfo.InvariantCulture))} |"));
        foreach (var (name, _, _, note) in rows.Where(r => r.Note.Length > 0)) log.WriteLine($"{name} gates after training: {note}");
        return 0;
    }

    static TaskBatch Gather(SpamTaskData data, long[] rows)
    {
        var index = Tensor.FromArray(rows);
        return new TaskBatch(data.Fields.IndexSelect(0, index), data.Flags.IndexSelect(0, index),
            data.Sequences.Select(s => (s.Sequence.IndexSelect(0, index), s.Padding.IndexSelect(0, index))).ToList());
    }

    static Tensor Targets(SpamTaskData data, long[] rows, int[] tasks) =>
        Tensor.FromArray(rows.SelectMany(r => tasks.Select(t => (float)data.Labels[r, t])).ToArray(), [rows.Length, tasks.Length]);

    /// <summary>Trains on the tasks <paramref name="tasks"/> and returns each one's held-out AUC.</summary>
    static double[] Train(TaskExpertModel model, SpamTaskData data, int[] train, int[] test, int[] tasks, int steps, int batchSize, double lr,
        ulong seed, TextWriter log, string name)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var parameters = model.TrainableParameters().ToList();
        var optimizer = new Adam(parameters, lr);
        var shared = model.NormalisedShared();
        var rest = shared is null ? parameters : parameters.Where(p => !shared.Contains(p)).ToList();
        var batches = new Generator(seed + 1);
        double last = 0;
        for (int step = 0; step < steps; step++)
        {
            var pick = Tensor.Randint(0, train.Length, [batchSize], generator: batches).ToArray<long>().Select(i => (long)train[i]).ToArray();
            var logits = model.Logits(Gather(data, pick));
            var targets = Targets(data, pick, tasks);
            var perTask = Enumerable.Range(0, tasks.Length).Select(t => Losses.BinaryCrossEntropyWithLogits(logits.Select(1, t), targets.Select(1, t))).ToArray();
            var total = perTask.Aggregate((a, b) => a + b);
            if (model.Penalty() is { } penalty) total = total + penalty;
            last = total.Item();
            if (!double.IsFinite(last)) throw new TrainingDivergedException("loss", step + 1, last, $"{name}: lower --lr.");
            if (shared is null) Autograd.Autograd.Backward(total);
            else
            {
                // OFVL-MS: the shared parameters get Σ_t g_t · mean‖g‖/‖g_t‖; the rest the gradient of the whole loss.
                var sharedArray = shared.ToArray();
                var perTaskGradients = perTask.Select(l => Autograd.Autograd.Grad(l, sharedArray, retainGraph: true)).ToList();
                var combined = SharedGradientNormalization.Combine(perTaskGradients);
                var restGradients = Autograd.Autograd.Grad(total, [.. rest]);
                for (int i = 0; i < sharedArray.Length; i++) sharedArray[i].Grad = combined[i];
                for (int i = 0; i < rest.Count; i++) rest[i].Grad = restGradients[i];
            }
            optimizer.Step();
            optimizer.ZeroGrad();
        }
        model.Eval();
        var scores = new List<double[]>();
        using (Autograd.Autograd.NoGrad())
            for (int start = 0; start < test.Length; start += 256)
            {
                var rows = test[start..Math.Min(test.Length, start + 256)].Select(i => (long)i).ToArray();
                var logits = model.Logits(Gather(data, rows)).ToDoubleArray();
                scores.AddRange(Enumerable.Range(0, rows.Length).Select(r => logits[(r * model.Tasks)..((r + 1) * model.Tasks)]));
            }
        var auc = tasks.Select((task, k) => RocAuc.Of(scores.Select(s => s[k]).ToList(), test.Select(i => data.Labels[i, task]).ToList())).ToArray();
        log.WriteLine(FormattableString.Invariant($"{name}: final loss {last:F4}, held-out AUC {string.Join(" ", auc.Select(a => a.ToString("F4", System.Globalization.CultureInfo.InvariantCulture)))} ({clock.Elapsed.TotalSeconds:F0} s)"));
        return auc;
    }
}
