using System.CommandLine;
using Engine.Nn;
using Engine.Pretrained;

namespace Engine.Cli;

/// <summary>
/// <c>engine tta</c>: continual test-time adaptation of a spam classifier on all-MiniLM-L6-v2 (PSMT, spec
/// seeds-remaining.md §4's demo). The source model is the frozen encoder with a linear head on mean-pooled states,
/// trained on clean messages. The test stream is the held-out messages shown through five text corruptions in a row
/// and then clean again (<see cref="TextCorruptions"/>), in unlabelled batches of 32; only the last two encoder
/// layers and the head adapt (the first four are run once per message and cached). Compared: the source model,
/// entropy minimisation (Tent-like: Adam on the mean prediction entropy), a plain mean teacher (PSMT with λ = 0 and
/// no restoring) and PSMT; each method adapts continually through the whole stream from the source weights. Printed:
/// the error per domain, the mean over the corrupted domains, and the error on the final clean domain (forgetting).
/// </summary>
static class TtaCommand
{
    const int Adapted = 2;

    public static Command Create()
    {
        var perDomain = ValidatedOption.Integer("--messages", "held-out messages per domain of the stream", 192, min: 32);
        var sourceSteps = ValidatedOption.Integer("--source-steps", "steps training the source head on clean messages", 150, min: 1);
        var length = ValidatedOption.Integer("--length", "tokens per message", 64, min: 8, max: 512);
        var lr = ValidatedOption.Positive("--lr", "Adam's learning rate of every adapting method", 1e-4);
        var seed = new Option<ulong>("--seed") { Description = "seed of the split, corruptions and head", DefaultValueFactory = _ => 0 };
        var command = new Command("tta", "continual test-time adaptation of a MiniLM spam classifier under text corruptions: source, entropy minimisation, mean teacher, PSMT");
        foreach (var o in new Option[] { perDomain, sourceSteps, length, lr, seed }) command.Options.Add(o);
        command.SetAction(r => Run(r.GetValue(perDomain), r.GetValue(sourceSteps), r.GetValue(length), r.GetValue(lr), r.GetValue(seed), Console.Out));
        return command;
    }

    /// <summary>The four lower layers' output for some messages: hidden states [N, T, H] and padding [N, T].</summary>
    sealed record Cached(Tensor Hidden, Tensor Padding, int[] Labels);

    static int Run(int perDomain, int sourceSteps, int length, double lr, ulong seed, TextWriter log)
    {
        var set = new TextClassificationSet(ClassifyCommand.Load("spamassassin"), 0.2, seed);
        var miniLm = SentenceEmbedder.LoadMiniLm();
        var bert = miniLm.Bert;
        bert.Eval();
        foreach (var p in bert.Parameters()) p.RequiresGrad = false;
        int lower = bert.Config.Layers - Adapted;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        Cached Encode(IReadOnlyList<(string Text, int Label)> messages)
        {
            var hidden = new List<Tensor>();
            var padding = new List<Tensor>();
            using (Autograd.Autograd.NoGrad())
                for (int start = 0; start < messages.Count; start += 32)
                {
                    var batch = miniLm.Tokenizer.Encode(messages.Skip(start).Take(32).Select(m => m.Text).ToList(), length);
                    // Pad every batch to the full length so the cached rows stack.
                    var ids = batch.Ids.Size(1) == length ? batch.Ids : Tensor.Concat([batch.Ids, Tensor.Zeros([batch.Ids.Size(0), length - batch.Ids.Size(1)], DType.Int64)], 1);
                    var mask = batch.PaddingMask.Size(1) == length ? batch.PaddingMask : Tensor.Concat([batch.PaddingMask, Tensor.Ones([batch.Ids.Size(0), length - batch.Ids.Size(1)], DType.Bool)], 1);
                    var x = bert.Embeddings.Forward(bert.Embeddings.Words(ids), 0, null);
                    for (int i = 0; i < lower; i++) x = bert.Encoder.Layers[i].Forward(x, mask, null);
                    hidden.Add(x);
                    padding.Add(mask);
                }
            return new Cached(Tensor.Concat([.. hidden], 0), Tensor.Concat([.. padding], 0), [.. messages.Select(m => m.Label)]);
        }

        var source = Encode([.. set.Train.Take(640)]);
        var random = new Random((int)seed + 7);
        var stream = TextCorruptions.Domains.Select(domain => (Domain: domain, Data: Encode([.. set.HeldOut.Take(perDomain).Select(m => (TextCorruptions.Apply(domain, m.Text, random), m.Label))]))).ToList();
        log.WriteLine($"cached the first {lower} MiniLM layers for {source.Labels.Length} source and {stream.Count} x {Math.Min(perDomain, set.HeldOut.Count)} stream messages ({clock.Elapsed.TotalSeconds:F0} s); adapting the last {Adapted} layers and the head");

        // The source model: a head on mean-pooled upper-layer states, trained on clean messages.
        var head = new Linear(bert.Config.Hidden, 2, generator: new Generator(seed + 3));
        var upper = new UpperModel(bert, lower, head);
        upper.SetEncoderTrainable(false);
        var headOptimizer = new Adam(head.Parameters(), 1e-2);
        var batches = new Generator(seed + 4);
        for (int step = 0; step < sourceSteps; step++)
        {
            var pick = Tensor.Randint(0, source.Labels.Length, [32], generator: batches);
            var loss = Losses.CrossEntropy(upper.Logits(source.Hidden.IndexSelect(0, pick), source.Padding.IndexSelect(0, pick)),
                Tensor.FromArray(pick.ToArray<long>().Select(i => (long)source.Labels[i]).ToArray()));
            Autograd.Autograd.Backward(loss);
            headOptimizer.Step();
            headOptimizer.ZeroGrad();
        }
        upper.SetEncoderTrainable(true);
        var sourceState = upper.Snapshot();
        var fisher = SourceFisher.Estimate([.. upper.Trainable], 10, i =>
        {
            long first = i * 32 % (source.Labels.Length - 32);
            var rows = Tensor.FromArray(Enumerable.Range(0, 32).Select(j => first + j).ToArray());
            return upper.Logits(source.Hidden.IndexSelect(0, rows), source.Padding.IndexSelect(0, rows));
        });
        log.WriteLine($"source head trained ({sourceSteps} steps); source Fisher from 10 batches of 32 clean messages");

        var rows = new List<(string Method, double[] Errors)>();
        foreach (var method in new[] { "source", "entropy minimisation", "mean teacher", "PSMT" })
        {
            upper.Restore(sourceState);
            var errors = method switch
            {
                "source" => stream.Select(d => Error(d.Data, x => { using (Autograd.Autograd.NoGrad()) return upper.Logits(x.Hidden, x.Padding); })).ToArray(),
                "entropy minimisation" => EntropyMinimisation(upper, stream.Select(d => d.Data).ToList(), lr),
                _ => Psmt(upper, stream.Select(d => d.Data).ToList(), fisher,
                    method == "PSMT" ? new PsmtOptions(LearningRate: lr) : new PsmtOptions(LearningRate: lr, Lambda: 0, Quantile: 0)),
            };
            rows.Add((method, errors));
            log.WriteLine(FormattableString.Invariant($"{method}: errors {string.Join(" ", errors.Select(e => $"{100 * e:F1}%"))} ({clock.Elapsed.TotalSeconds:F0} s)"));
        }

        log.WriteLine();
        log.WriteLine("| method | " + string.Join(" | ", TextCorruptions.Domains) + " | mean over the corruptions |");
        log.WriteLine("|---|" + string.Concat(TextCorruptions.Domains.Select(_ => "---:|")) + "---:|");
        foreach (var (method, errors) in rows)
            log.WriteLine(FormattableString.Invariant($"| {method} | {string.Join(" | ", errors.Select(e => $"{100 * e:F1}%"))} | {100 * errors[..^1].Average():F1}% |"));
        return 0;
    }

    // Batches of 32 in order; each batch is predicted, then (for adapting methods) adapted on.
    static IEnumerable<(Cached Batch, int[] Labels)> Batches(Cached domain)
    {
        for (int start = 0; start < domain.Labels.Length; start += 32)
        {
            int n = Math.Min(32, domain.Labels.Length - start);
            yield return (new Cached(domain.Hidden.Narrow(0, start, n), domain.Padding.Narrow(0, start, n), domain.Labels[start..(start + n)]), domain.Labels[start..(start + n)]);
        }
    }

    static double Error(Cached domain, Func<Cached, Tensor> logits)
    {
        int wrong = 0;
        foreach (var (batch, labels) in Batches(domain))
            wrong += logits(batch).ArgMax(-1).ToArray<long>().Zip(labels, (p, l) => p != l ? 1 : 0).Sum();
        return wrong / (double)domain.Labels.Length;
    }

    static double[] EntropyMinimisation(UpperModel upper, IReadOnlyList<Cached> stream, double lr)
    {
        var optimizer = new Adam(upper.Trainable, lr);
        return stream.Select(domain => Error(domain, batch =>
        {
            var logits = upper.Logits(batch.Hidden, batch.Padding);
            var logp = logits.LogSoftmax(-1);
            Autograd.Autograd.Backward(-(logp.Exp() * logp).Sum(-1).Mean());
            optimizer.Step();
            optimizer.ZeroGrad();
            return logits.Detach();
        })).ToArray();
    }

    static double[] Psmt(UpperModel upper, IReadOnlyList<Cached> stream, Tensor[] fisher, PsmtOptions options)
    {
        // Inputs are (hidden, padding) pairs packed side by side so one tensor carries a batch through PSMT.
        int length = stream[0].Hidden.Size(1);
        var psmt = new ParameterSelectiveMeanTeacher(upper, x => upper.Logits(x.Narrow(2, 0, x.Size(2) - 1), x.Select(2, x.Size(2) - 1).Gt(0.5)), options, fisher);
        return stream.Select(domain => Error(domain, batch =>
            psmt.Adapt(Tensor.Concat([batch.Hidden, batch.Padding.To(batch.Hidden.DType).Unsqueeze(-1)], 2)).Prediction)).ToArray();
    }

    /// <summary>The adapted part: the encoder's last layers, mean pooling, the head.</summary>
    sealed class UpperModel : Module
    {
        readonly Bert _bert;
        readonly int _first;

        public UpperModel(Bert bert, int first, Linear head)
        {
            (_bert, _first) = (bert, first);
            for (int i = first; i < bert.Config.Layers; i++) RegisterModule($"layer{i}", bert.Encoder.Layers[i]);
            RegisterModule("head", head);
        }

        public IReadOnlyList<Tensor> Trainable => [.. TrainableParameters()];

        public void SetEncoderTrainable(bool on)
        {
            for (int i = _first; i < _bert.Config.Layers; i++) foreach (var p in _bert.Encoder.Layers[i].Parameters()) p.RequiresGrad = on;
        }

        public Tensor Logits(Tensor hidden, Tensor padding)
        {
            var x = hidden;
            for (int i = _first; i < _bert.Config.Layers; i++) x = _bert.Encoder.Layers[i].Forward(x, padding, null);
            return Child("head").Forward(Bert.MeanPool(x, padding));
        }

        public Dictionary<string, Tensor> Snapshot() => NamedParameters().ToDictionary(p => p.Name, p => p.Parameter.Detach().Clone());

        public void Restore(Dictionary<string, Tensor> state)
        {
            using var _ = Autograd.Autograd.NoGrad();
            foreach (var (name, p) in NamedParameters()) p.CopyFrom(state[name]);
        }
    }
}
