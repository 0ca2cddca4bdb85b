using System.CommandLine;
using System.Globalization;
using System.Text;
using Engine.Nn;

namespace Engine.Cli;

/// <summary>
/// <c>engine analyze llc</c>: the local learning coefficient λ̂ (spec seeds-remaining.md §9a; <see cref="LocalLearningCoefficient"/>)
/// of the names GPT at training checkpoints, for the real names and for a control trained on the same names with their
/// characters shuffled. λ̂ = nβ (E[L_m(w)] − L(w*)) over SGLD draws around each checkpoint, with n the training tokens and
/// nβ = n / log n unless <c>--nbeta</c> is given; L_m is the minibatch loss of each draw (devinterp's convention).
/// </summary>
static class LlcCommand
{
    /// <summary>One measured checkpoint.</summary>
    public sealed record Row(string Run, int Step, double InitLoss, double ValidationLoss, LlcResult Llc);

    /// <summary>What the command runs with.</summary>
    public sealed record Settings(DegeneracyNamesRun.Settings Model, int[] Checkpoints, bool Control, LlcOptions Llc, int SgldBatch, string? Out, string? Plot = null);

    public static Command Create()
    {
        var data = new Option<string>("--data") { Description = "names to train on: a file (UTF-8, one per line) or an embedded set: female, male, all", DefaultValueFactory = _ => "female" };
        var checkpoints = new Option<string>("--checkpoints") { Description = "training steps at which λ̂ is measured, comma-separated (0 = the initialisation)", DefaultValueFactory = _ => "0,100,300,1000" };
        var control = new Option<string>("--control") { Description = "a second run on the names with their characters shuffled (shuffled), or none", DefaultValueFactory = _ => "shuffled" };
        var width = ValidatedOption.Integer("--width", "model width", 32, min: 1);
        var layers = ValidatedOption.Integer("--layers", "transformer blocks", 2, min: 1);
        var heads = ValidatedOption.Integer("--heads", "attention heads", 4, min: 1);
        var context = ValidatedOption.Integer("--context", "tokens per sequence", 16, min: 2);
        var batch = ValidatedOption.Integer("--batch", "sequences per training batch", 32, min: 1);
        var lr = ValidatedOption.Positive("--lr", "peak learning rate (AdamW, warm-up + cosine)", 3e-3);
        var chains = ValidatedOption.Integer("--chains", "SGLD chains per checkpoint", 2, min: 1);
        var draws = ValidatedOption.Integer("--draws", "draws kept per chain", 100, min: 1);
        var burnIn = ValidatedOption.Integer("--burn-in", "SGLD steps discarded per chain before the draws", 50, min: 0);
        var stepSize = ValidatedOption.Positive("--step-size", "SGLD step size ε", 1e-4);
        var localization = ValidatedOption.NonNegative("--localization", "SGLD pull γ back to the checkpoint", 100);
        var nBeta = ValidatedOption.OptionalPositive("--nbeta", "nβ (default: n / log n with n the training tokens)");
        var sgldBatch = ValidatedOption.Integer("--sgld-batch", "sequences per SGLD minibatch", 32, min: 1);
        // devinterp averages L(w*) over one minibatch per chain; with nβ in the thousands that noise alone moves λ̂ by ~100.
        var initBatches = ValidatedOption.Integer("--init-batches", "minibatches averaged for L(w*) (devinterp: one per chain)", 64, min: 1);
        var seed = new Option<ulong>("--seed") { Description = "seed of the initialisation, the data order and the SGLD noise", DefaultValueFactory = _ => 1 };
        var quick = new Option<bool>("--quick") { Description = "a tiny run in seconds (for tests): width 16, 1 layer, checkpoints 0,4, 1 chain of 4 draws" };
        var output = ValidatedOption.OptionalOutputFile("--out", "write the table there too: CSV when the name ends in .csv, markdown otherwise");
        var plot = ValidatedOption.OptionalOutputFile("--plot", "draw λ̂ against the step, one line per run, into this SVG file");
        var command = new Command("llc", "local learning coefficient λ̂ (SGLD) of the names GPT over training checkpoints, and of a control on shuffled characters");
        foreach (var o in new Option[] { data, checkpoints, control, width, layers, heads, context, batch, lr, chains, draws, burnIn, stepSize, localization, nBeta, sgldBatch, initBatches, seed, quick, output, plot })
            command.Options.Add(o);
        command.SetAction(r =>
        {
            bool q = r.GetValue(quick);
            var model = new DegeneracyNamesRun.Settings(r.GetValue(data)!, q ? 16 : r.GetValue(width), q ? 1 : r.GetValue(layers), q ? 2 : r.GetValue(heads),
                q ? 8 : r.GetValue(context), q ? 4 : r.GetValue(batch), r.GetValue(lr), r.GetValue(seed));
            var llc = new LlcOptions
            {
                Chains = q ? 1 : r.GetValue(chains), Draws = q ? 4 : r.GetValue(draws), BurnIn = q ? 2 : r.GetValue(burnIn),
                StepSize = r.GetValue(stepSize), Localization = r.GetValue(localization), NBeta = r.GetValue(nBeta), Seed = r.GetValue(seed) + 3,
                InitBatches = q ? 2 : r.GetValue(initBatches),
            };
            string controlName = r.GetValue(control)!;
            if (controlName is not ("shuffled" or "none")) throw new ArgumentException($"--control must be shuffled or none, got '{controlName}'");
            return Run(new Settings(model, q ? [0, 4] : ParseSteps(r.GetValue(checkpoints)!), controlName == "shuffled", llc, q ? 4 : r.GetValue(sgldBatch), r.GetValue(output), r.GetValue(plot)), Console.Out);
        });
        return command;
    }

    /// <summary>"0,100,300" as ascending distinct steps ≥ 0; anything else is a user error naming the option.</summary>
    public static int[] ParseSteps(string text)
    {
        var steps = new List<int>();
        foreach (var part in text.Split(',', StringSplitOptions.TrimEntries))
        {
            if (!int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out int step))
                throw new ArgumentException($"--checkpoints must be whole numbers ≥ 0 separated by commas, got '{text}'");
            steps.Add(step);
        }
        return steps.Distinct().Order().ToArray();
    }

    static int Run(Settings s, TextWriter log)
    {
        var rows = new List<Row>();
        foreach (bool shuffled in s.Control ? new[] { false, true } : [false])
        {
            string run = shuffled ? "shuffled" : "names";
            var (tokenizer, corpus) = DegeneracyNamesRun.Corpus(s.Model, shuffled);
            var model = DegeneracyNamesRun.Model(s.Model, tokenizer);
            long n = corpus.TrainTokens;
            if (!shuffled)
                log.WriteLine(FormattableString.Invariant($"model: {model.ParameterCount():N0} parameters; n = {n:N0} training tokens; nβ = {s.Llc.NBeta ?? Sgld.DefaultNBeta(n):F1}; ε = {s.Llc.StepSize:G3}, γ = {s.Llc.Localization:G3}, {s.Llc.Chains} chains × {s.Llc.Draws} draws after {s.Llc.BurnIn} burn-in steps; L(w*) over {s.Llc.InitBatches} minibatches"));
            DegeneracyNamesRun.Train(model, corpus, s.Model, s.Checkpoints, step =>
            {
                double validation = NamesAdaptation.ValidationLoss(model, model.Forward, corpus, s.Model.Context);
                var result = LocalLearningCoefficient.Estimate(model.Parameters().ToList(), g =>
                {
                    var (x, y) = corpus.Batch(s.SgldBatch, s.Model.Context, g);
                    return Losses.CrossEntropy(model.Forward(x), y);
                }, n, s.Llc);
                rows.Add(new Row(run, step, result.InitLoss, validation, result));
                log.WriteLine(FormattableString.Invariant($"{run} step {step}: validation loss {validation:F4}, λ̂ = {result.Llc:F2} ± {result.LlcStd:F2}"));
            });
        }
        log.WriteLine();
        var table = Markdown(rows);
        log.WriteLine(table);
        foreach (var r in rows.Where(r => r.Llc.ChainLlcs.Any(c => c < 0) || r.Llc.ChainDrifts.Any(d => Math.Abs(d) > 0.5 * Math.Abs(r.Llc.Llc))))
            log.WriteLine(FormattableString.Invariant($"check {r.Run} step {r.Step}: a chain's λ̂ is negative or its loss still drifts (w* is not a local minimum, or ε/γ need tuning)"));
        if (s.Out is { } file)
        {
            File.WriteAllText(file, file.EndsWith(".csv", StringComparison.OrdinalIgnoreCase) ? Csv(rows) : table + Environment.NewLine);
            log.WriteLine($"table: {file}");
        }
        if (s.Plot is { } svg)
        {
            Plots.DegeneracyPlot.WriteLlc(rows.Select(r => (r.Run, r.Step, r.Llc.Llc, r.Llc.LlcStd)).ToList(), "engine analyze llc: λ̂ over training, names vs shuffled characters", svg);
            log.WriteLine($"plot: {svg}");
        }
        return 0;
    }

    /// <summary>
    /// The table: per run and checkpoint, L(w*) (mean minibatch loss at the checkpoint), the validation loss, λ̂ ± the
    /// spread over chains, and the largest drift of a chain (nβ × the change of its mean loss from the first half of its
    /// draws to the second; near 0 when the chain is stationary).
    /// </summary>
    public static string Markdown(IReadOnlyList<Row> rows)
    {
        var sb = new StringBuilder();
        sb.AppendLine("| run | step | L(w*) | validation loss | λ̂ | ± (chains) | max drift |");
        sb.AppendLine("|---|---:|---:|---:|---:|---:|---:|");
        foreach (var r in rows)
            sb.AppendLine(FormattableString.Invariant($"| {r.Run} | {r.Step} | {r.InitLoss:F4} | {r.ValidationLoss:F4} | {r.Llc.Llc:F2} | {r.Llc.LlcStd:F2} | {r.Llc.ChainDrifts.MaxBy(Math.Abs):F2} |"));
        return sb.ToString().TrimEnd();
    }

    /// <summary>The table as CSV, one row per run and checkpoint, with each chain's λ̂.</summary>
    public static string Csv(IReadOnlyList<Row> rows)
    {
        var sb = new StringBuilder("run,step,init_loss,validation_loss,llc,llc_std,nbeta,chain_llcs\n");
        foreach (var r in rows)
            sb.Append(FormattableString.Invariant($"{r.Run},{r.Step},{r.InitLoss:R},{r.ValidationLoss:R},{r.Llc.Llc:R},{r.Llc.LlcStd:R},{r.Llc.NBeta:R},{string.Join(' ', r.Llc.ChainLlcs.Select(c => c.ToString("R", CultureInfo.InvariantCulture)))}\n"));
        return sb.ToString();
    }
}
