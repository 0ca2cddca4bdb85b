using System.CommandLine;
using System.Globalization;
using System.Text;
using Engine.Nn;
using Engine.Peft;
using Engine.Peft.IntrinsicDim;
using PeftApi = Engine.Peft.Peft;

namespace Engine.Cli;

/// <summary>
/// <c>engine intrinsic-dim</c>: the d_int90 search of Li et al. 2018 ("Measuring the Intrinsic Dimension of Objective
/// Landscapes", arXiv 1804.08838; issue 18) on the names job. For each d it trains the names GPT in a random d-dimensional
/// subspace of its weights (<see cref="IntrinsicDimConfig"/>: every Linear weight, the head included, is W0 + its slice
/// of P θ^(d)) from its random initialisation, as the paper does (or, with <c>--checkpoint</c>, from a trained names
/// model), and the full model with the same steps, and prints the validation loss against d. For a loss, "90 % of the
/// baseline's performance" is read as closing 90 % of the gap: d_int90 is the smallest d with
/// L_init − L_d ≥ 0.9 (L_init − L_full), L_init the loss at the start (the same for every run) and L_full the full run's.
/// </summary>
static class IntrinsicDimCommand
{
    /// <summary>The share of the gap from the initial loss to the full model's that d_int90 asks for.</summary>
    public const double Fraction = 0.9;

    /// <summary>One run: its d (null for the full model), trainable count, final validation loss and share of the gap closed.</summary>
    public sealed record Row(int? Dim, long Trainable, double Loss, double GapClosed);

    /// <summary>What the search measured.</summary>
    public sealed record Search(long Coordinates, double Initial, Row Full, IReadOnlyList<Row> Rows)
    {
        /// <summary>The smallest d that closes <see cref="Fraction"/> of the gap, or null (none did, or the full run did not improve).</summary>
        public int? Dint90 => Initial - Full.Loss > 0 ? Rows.Where(r => r.GapClosed >= Fraction).Select(r => r.Dim).FirstOrDefault() : null;
    }

    public static Command Create()
    {
        var dims = new Option<string>("--dims") { Description = "subspace dimensions d to train, comma-separated", DefaultValueFactory = _ => "10,30,100,300,1000,3000" };
        var projection = new Option<string>("--projection") { Description = $"random projection P: {string.Join(", ", SubspaceProjection.Kinds)}", DefaultValueFactory = _ => SubspaceProjection.Fastfood };
        var checkpoint = new Option<string?>("--checkpoint") { Description = "start every run from this names model of `engine train` instead of a random initialisation" };
        var data = new Option<string>("--data") { Description = "names to train on: a file (UTF-8, one per line) or an embedded set: female, male, all", DefaultValueFactory = _ => "female" };
        var steps = ValidatedOption.Integer("--steps", "optimiser steps of every run", 300, min: 1);
        var batch = ValidatedOption.Integer("--batch", "sequences per batch", 32, min: 1);
        var lr = ValidatedOption.Positive("--lr", "peak learning rate of the subspace runs (AdamW, warm-up + cosine)", 1e-1);
        var baselineLr = ValidatedOption.Positive("--baseline-lr", "peak learning rate of the full-parameter run", 3e-3);
        var width = ValidatedOption.Integer("--width", "model width of the random initialisation (without --checkpoint)", 64, min: 1);
        var layers = ValidatedOption.Integer("--layers", "transformer blocks of the random initialisation", 4, min: 1);
        var heads = ValidatedOption.Integer("--heads", "attention heads of the random initialisation", 4, min: 1);
        var context = ValidatedOption.Integer("--context", "tokens per sequence of the random initialisation", 32, min: 2);
        var seed = new Option<ulong>("--seed") { Description = "seed of the initialisation, the data order and P", DefaultValueFactory = _ => 1 };
        var output = ValidatedOption.OptionalOutputFile("--out", "write the table there too: CSV when the name ends in .csv, markdown otherwise");
        var command = new Command("intrinsic-dim", "train the names GPT in random subspaces of growing dimension d and fully; validation loss against d and d_int90 (arXiv 1804.08838)");
        foreach (var o in new Option[] { dims, projection, checkpoint, data, steps, batch, lr, baselineLr, width, layers, heads, context, seed, output }) command.Options.Add(o);
        command.SetAction(r => Run(new Settings(ParseDims(r.GetValue(dims)!), r.GetValue(projection)!, r.GetValue(checkpoint), r.GetValue(data)!, r.GetValue(steps),
            r.GetValue(batch), r.GetValue(lr), r.GetValue(baselineLr), r.GetValue(width), r.GetValue(layers), r.GetValue(heads), r.GetValue(context), r.GetValue(seed),
            r.GetValue(output)), Console.Out));
        return command;
    }

    /// <summary>What the command runs with.</summary>
    public sealed record Settings(int[] Dims, string Projection, string? Checkpoint, string Data, int Steps, int Batch, double Lr, double BaselineLr,
        int Width, int Layers, int Heads, int Context, ulong Seed, string? Out);

    /// <summary>"10,30,100" as ascending distinct dimensions; anything else is a user error naming the option.</summary>
    public static int[] ParseDims(string text)
    {
        var parts = text.Split(',', StringSplitOptions.TrimEntries);
        var dims = new List<int>();
        foreach (var part in parts)
        {
            if (!int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out int d) || d < 1)
                throw new ArgumentException($"--dims must be positive whole numbers separated by commas, got '{text}'");
            dims.Add(d);
        }
        return dims.Distinct().Order().ToArray();
    }

    static int Run(Settings s, TextWriter log)
    {
        if (!SubspaceProjection.Kinds.Contains(s.Projection))
            throw new ArgumentException($"--projection must be one of {string.Join(", ", SubspaceProjection.Kinds)}, got '{s.Projection}'");
        if (s.Checkpoint is null && s.Width % s.Heads != 0) throw new ArgumentException($"--heads {s.Heads} must divide --width {s.Width}");
        var names = EmbeddedData.Load(s.Data);
        Func<Gpt> fresh;
        CharTokenizer tokenizer;
        if (s.Checkpoint is { } path)
        {
            tokenizer = NamesModelFile.Load(path).Tokenizer;
            fresh = () => NamesModelFile.Load(path).Model;
        }
        else
        {
            tokenizer = CharTokenizer.FromTexts(EmbeddedData.Load("all").Concat(names));
            var config = new GptConfig(tokenizer.VocabSize, s.Context, s.Width, s.Layers, s.Heads);
            MemoryEstimate.Require(MemoryEstimate.Gpt(config, s.Batch, s.Context, training: true), $"training with --batch {s.Batch}, --context {s.Context}, --width {s.Width}, --layers {s.Layers}", "lower them");
            fresh = () => new Gpt(config, new Generator(s.Seed));
        }
        var probe = fresh();
        int context = probe.Config.ContextLength;
        // Every d is checked against D (and the dense size limit) before any training.
        long coordinates = ((IntrinsicDimSubspace)PeftApi.Apply(probe, ConfigFor(probe, s.Dims[^1], s)).ModelPart("default")!).Coordinates;
        var corpus = NamesData.Corpus(names, tokenizer, s.Seed, s.Data, context, $"the model's context of {context} tokens");
        var start = fresh();
        double initial = NamesAdaptation.ValidationLoss(start, start.Forward, corpus, context);
        log.WriteLine(FormattableString.Invariant($"data: {names.Count} names; {(s.Checkpoint is null ? "random initialisation" : s.Checkpoint)}; D = {coordinates:N0} Linear weights; projection {s.Projection}"));
        log.WriteLine(FormattableString.Invariant($"validation loss at the start: {initial:F4}"));

        var (fullLoss, fullTrainable) = Train(fresh(), null, corpus, context, s, s.BaselineLr, "full");
        log.WriteLine(FormattableString.Invariant($"full ({fullTrainable:N0} trainable): {fullLoss:F4}"));
        double gap = initial - fullLoss;
        var rows = new List<Row>();
        foreach (int d in s.Dims)
        {
            var model = fresh();
            var (loss, trainable) = Train(model, ConfigFor(model, d, s), corpus, context, s, s.Lr, $"d = {d}");
            rows.Add(new Row(d, trainable, loss, (initial - loss) / gap));
            log.WriteLine(FormattableString.Invariant($"d = {d}: {loss:F4}"));
        }
        var search = new Search(coordinates, initial, new Row(null, fullTrainable, fullLoss, 1), rows);
        log.WriteLine();
        var table = Markdown(search, s);
        log.WriteLine(table);
        if (s.Out is { } file)
        {
            File.WriteAllText(file, file.EndsWith(".csv", StringComparison.OrdinalIgnoreCase) ? Csv(search) : table + Environment.NewLine);
            log.WriteLine($"table: {file}");
        }
        return 0;
    }

    static IntrinsicDimConfig ConfigFor(Gpt model, int d, Settings s) => new()
    {
        IntrinsicDim = d,
        Projection = s.Projection,
        ProjectionSeed = s.Seed,
        TargetModules = model.Head is null ? ["qkv", "attn.proj", "mlp.fc", "mlp.proj"] : ["qkv", "attn.proj", "mlp.fc", "mlp.proj", "head"],
    };

    // Trains the model (fully, or in the subspace of config) as the names jobs do: AdamW without weight decay,
    // warm-up + cosine, clipping at 1; returns the final validation loss and the trainable count.
    static (double Loss, long Trainable) Train(Gpt gpt, IntrinsicDimConfig? config, NamesCorpus corpus, int context, Settings s, double lr, string name)
    {
        Module trained = config is null ? gpt : PeftApi.Apply(gpt, config);
        Func<Tensor, Tensor> forward = trained is PeftModel<Gpt> peft ? peft.Forward : gpt.Forward;
        var optimizer = new AdamW([new ParamGroup(trained.TrainableParameters(), lr, 0)]);
        var generator = new Generator(s.Seed + 1);
        var options = new TrainerOptions(s.Steps, new WarmupCosineSchedule(Math.Min(50, s.Steps / 10), s.Steps, 0.1), MaxGradNorm: 1.0, TokensPerStep: (long)s.Batch * context);
        new Trainer(trained, optimizer, options).Run(TrainingDivergedException.Guard(_ =>
        {
            var (x, y) = corpus.Batch(s.Batch, context, generator);
            return Losses.CrossEntropy(forward(x), y);
        }, () => $"The {name} run diverged; try a lower {(config is null ? "--baseline-lr" : "--lr")}."));
        return (NamesAdaptation.ValidationLoss(trained, forward, corpus, context), trained.ParameterCount(trainableOnly: true));
    }

    /// <summary>The markdown table, then d_int90 and how the runs were made.</summary>
    public static string Markdown(Search search, Settings s)
    {
        var sb = new StringBuilder();
        sb.AppendLine("| d | trainable | validation loss | gap closed |");
        sb.AppendLine("|---:|---:|---:|---:|");
        sb.AppendLine(FormattableString.Invariant($"| start (no training) | 0 | {search.Initial:F4} | 0 % |"));
        foreach (var r in search.Rows) sb.AppendLine(FormattableString.Invariant($"| {r.Dim} | {r.Trainable:N0} | {r.Loss:F4} | {100 * r.GapClosed:F1} % |"));
        sb.AppendLine(FormattableString.Invariant($"| full | {search.Full.Trainable:N0} | {search.Full.Loss:F4} | 100 % |"));
        sb.AppendLine();
        sb.Append(search.Dint90 is { } d
            ? FormattableString.Invariant($"d_int90 = {d} (the smallest d closing {100 * Fraction:F0} % of the gap from the start's loss to the full run's; D = {search.Coordinates:N0})")
            : search.Initial - search.Full.Loss > 0
                ? FormattableString.Invariant($"d_int90 > {search.Rows[^1].Dim}: no d closed {100 * Fraction:F0} % of the gap (D = {search.Coordinates:N0})")
                : "d_int90 undefined: the full run did not improve on the loss at the start");
        sb.AppendLine();
        sb.Append(FormattableString.Invariant($"projection {s.Projection}, {s.Steps} steps of batch {s.Batch}, lr {s.Lr:G3} (subspace) and {s.BaselineLr:G3} (full), seed {s.Seed}"));
        return sb.ToString();
    }

    /// <summary>The table as CSV: d (empty for the start and full rows), trainable, validation loss, gap closed.</summary>
    public static string Csv(Search search)
    {
        var sb = new StringBuilder("run,d,trainable,validation_loss,gap_closed\n");
        sb.Append(FormattableString.Invariant($"start,,0,{search.Initial:R},0\n"));
        foreach (var r in search.Rows) sb.Append(FormattableString.Invariant($"subspace,{r.Dim},{r.Trainable},{r.Loss:R},{r.GapClosed:R}\n"));
        sb.Append(FormattableString.Invariant($"full,,{search.Full.Trainable},{search.Full.Loss:R},1\n"));
        sb.Append(FormattableString.Invariant($"d_int90,{search.Dint90?.ToString(CultureInfo.InvariantCulture) ?? ""},,,\n"));
        return sb.ToString();
    }
}
