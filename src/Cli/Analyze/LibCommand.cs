using System.CommandLine;
using System.Globalization;
using System.Text;
using Engine.Nn;

namespace Engine.Cli;

/// <summary>
/// <c>engine analyze lib</c>: the local interaction basis (spec seeds-remaining.md §9b; <see cref="LocalInteractionBasis"/>)
/// of the MLP of a 1-layer names GPT. Node layers: f_0 = the MLP's input ln2(h) (bias folded), f_1 = its hidden GELU
/// activations (bias folded) and f_2 = the logits, reached from f_1 through proj, the residual h (held fixed), ln_f and
/// the tied head; the Jacobians come from autograd. It prints the number of LIB directions against neurons and the
/// ablation curve: the validation loss when f_1 keeps only its k strongest LIB directions (f_1 C_S C⁺_S), against keeping
/// its k leading principal directions (f_1 U_S U_Sᵀ, uncentred PCA of the same G, rib's "svd" basis), for equal k.
/// </summary>
static class LibCommand
{
    /// <summary>One row of the ablation curve: the directions kept and the validation loss increase of each basis.</summary>
    public sealed record AblationRow(int Kept, double LibIncrease, double PcaIncrease);

    /// <summary>What the command runs with.</summary>
    public sealed record Settings(DegeneracyNamesRun.Settings Model, int Steps, int Windows, double Truncation, string? Out, string? Plot = null);

    public static Command Create()
    {
        var data = new Option<string>("--data") { Description = "names to train on: a file (UTF-8, one per line) or an embedded set: female, male, all", DefaultValueFactory = _ => "female" };
        var width = ValidatedOption.Integer("--width", "model width (the MLP has 4 × width neurons)", 32, min: 1);
        var heads = ValidatedOption.Integer("--heads", "attention heads", 4, min: 1);
        var context = ValidatedOption.Integer("--context", "tokens per sequence", 16, min: 2);
        var steps = ValidatedOption.Integer("--steps", "training steps of the 1-layer model", 1000, min: 0);
        var batch = ValidatedOption.Integer("--batch", "sequences per training batch", 32, min: 1);
        var lr = ValidatedOption.Positive("--lr", "peak learning rate (AdamW, warm-up + cosine)", 3e-3);
        var windows = ValidatedOption.Integer("--windows", "training windows whose tokens estimate G and M′", 128, min: 1);
        var truncation = ValidatedOption.Number("--truncation", "eigenvalues of G and M below this fraction of the largest are dropped", LocalInteractionBasis.DefaultTruncation, 0, 1, minExclusive: false);
        var seed = new Option<ulong>("--seed") { Description = "seed of the initialisation and the data order", DefaultValueFactory = _ => 1 };
        var quick = new Option<bool>("--quick") { Description = "a tiny run in seconds (for tests): width 8, 20 steps, 8 windows" };
        var output = ValidatedOption.OptionalOutputFile("--out", "write the ablation table there too: CSV when the name ends in .csv, markdown otherwise");
        var plot = ValidatedOption.OptionalOutputFile("--plot", "draw the ablation curves of LIB and PCA into this SVG file");
        var command = new Command("lib", "local interaction basis of a 1-layer names GPT's MLP: LIB dimensions vs neurons, and ablation against PCA");
        foreach (var o in new Option[] { data, width, heads, context, steps, batch, lr, windows, truncation, seed, quick, output, plot }) command.Options.Add(o);
        command.SetAction(r =>
        {
            bool q = r.GetValue(quick);
            var model = new DegeneracyNamesRun.Settings(r.GetValue(data)!, q ? 8 : r.GetValue(width), 1, q ? 2 : r.GetValue(heads), q ? 8 : r.GetValue(context),
                q ? 4 : r.GetValue(batch), r.GetValue(lr), r.GetValue(seed));
            if (r.GetValue(truncation) >= 1) throw new ArgumentException($"--truncation must be below 1, got {r.GetValue(truncation)}");
            return Run(new Settings(model, q ? 20 : r.GetValue(steps), q ? 8 : r.GetValue(windows), r.GetValue(truncation), r.GetValue(output), r.GetValue(plot)), Console.Out);
        });
        return command;
    }

    // The MLP's rows for a batch of windows: its input u = ln2(h), the residual h it adds to, and the targets.
    sealed record MlpRows(Tensor Input, Tensor Residual, Tensor Targets);

    static int Run(Settings s, TextWriter log)
    {
        var (tokenizer, corpus) = DegeneracyNamesRun.Corpus(s.Model, shuffled: false);
        var gpt = DegeneracyNamesRun.Model(s.Model, tokenizer);
        DegeneracyNamesRun.Train(gpt, corpus, s.Model, [s.Steps], _ => { });
        var block = gpt.Blocks[0];
        var mlp = block.Mlp;
        int neurons = mlp.Fc.OutFeatures;
        var generator = new Generator(s.Model.Seed + 5);
        var (x, y) = corpus.Batch(s.Windows, s.Model.Context, generator);
        var train = Rows(gpt, x, y);
        var validation = corpus.ValidationWindows(64, s.Model.Context).Select(w => Rows(gpt, w.Inputs, w.Targets)).ToList();
        var valRows = new MlpRows(Tensor.Concat(validation.Select(v => v.Input).ToArray()), Tensor.Concat(validation.Select(v => v.Residual).ToArray()), Tensor.Concat(validation.Select(v => v.Targets).ToArray()));

        var hiddenMap = LocalInteractionBasis.LinearMap(mlp.Fc.Weight, mlp.Fc.Bias, z => z.Gelu(gpt.Config.GeluTanh));
        var lib = LocalInteractionBasis.Compute(train.Input, [hiddenMap, LogitsMap(gpt, train.Residual)], s.Truncation);
        var hidden = lib[1];

        log.WriteLine(FormattableString.Invariant($"model: 1-layer names GPT, width {s.Model.Width}, {neurons} MLP neurons, trained {s.Steps} steps; G and M′ from {train.Input.Size(0):N0} training tokens; truncation {s.Truncation:G3} of the largest eigenvalue"));
        log.WriteLine();
        log.WriteLine("| node layer | components (incl. constant) | G rank (PCA dims) | LIB dims | PCA dims for 99 % of ΣD | LIB dims for 99 % of ΣΛ |");
        log.WriteLine("|---|---:|---:|---:|---:|---:|");
        string[] names = ["MLP input ln2(h)", "MLP hidden GELU", "logits"];
        for (int l = 0; l < lib.Count - 1; l++)
        {
            var layer = lib[l];
            log.WriteLine(FormattableString.Invariant($"| {names[l]} | {layer.Width} | {layer.GramEigenvalues.Size(0)} | {layer.Dimension} | {Holding(layer.GramEigenvalues, 0.99)} | {Holding(layer.Lambda, 0.99)} |"));
        }
        log.WriteLine();

        // Ablation on the validation tokens: the hidden rows (with their constant) projected, then the rest of the network.
        var valHidden = LocalInteractionBasis.WithConstant(hiddenMap(LocalInteractionBasis.WithConstant(valRows.Input)));
        var logitsMap = LogitsMap(gpt, valRows.Residual);
        double Loss(Tensor f) => Losses.CrossEntropy(logitsMap(f), valRows.Targets).Item();
        double full = Loss(valHidden);
        int maxKeep = Math.Min(hidden.Dimension, hidden.GramEigenvectors.Size(1));
        var keeps = new[] { maxKeep, 96, 64, 48, 32, 24, 16, 12, 8, 4, 2, 1 }.Where(k => k <= maxKeep).Distinct().OrderByDescending(k => k).ToList();
        var rows = keeps.Select(k => new AblationRow(k, Loss(hidden.KeepStrongest(valHidden, k)) - full, Loss(hidden.KeepLeadingPrincipal(valHidden, k)) - full)).ToList();
        log.WriteLine(FormattableString.Invariant($"validation loss with the hidden layer intact: {full:F4}; increase when it keeps only k directions:"));
        log.WriteLine();
        var table = Markdown(rows);
        log.WriteLine(table);
        int libWins = rows.Count(r => r.LibIncrease < r.PcaIncrease);
        log.WriteLine();
        log.WriteLine($"the LIB directions cost less loss than the PCA directions at {libWins} of {rows.Count} k");
        if (s.Out is { } file)
        {
            File.WriteAllText(file, file.EndsWith(".csv", StringComparison.OrdinalIgnoreCase) ? Csv(rows) : table + Environment.NewLine);
            log.WriteLine($"table: {file}");
        }
        if (s.Plot is { } svg)
        {
            Plots.DegeneracyPlot.WriteAblation(rows.Select(r => (r.Kept, r.LibIncrease, r.PcaIncrease)).ToList(), "engine analyze lib: ablating the MLP's hidden layer, LIB vs PCA", svg);
            log.WriteLine($"plot: {svg}");
        }
        return 0;
    }

    /// <summary>The ablation table: directions kept, loss increase keeping the k strongest LIB directions, and the k leading PCA directions.</summary>
    public static string Markdown(IReadOnlyList<AblationRow> rows)
    {
        var sb = new StringBuilder();
        sb.AppendLine("| kept k | LIB: loss increase | PCA: loss increase |");
        sb.AppendLine("|---:|---:|---:|");
        foreach (var r in rows) sb.AppendLine(FormattableString.Invariant($"| {r.Kept} | {r.LibIncrease:F4} | {r.PcaIncrease:F4} |"));
        return sb.ToString().TrimEnd();
    }

    /// <summary>The ablation table as CSV.</summary>
    public static string Csv(IReadOnlyList<AblationRow> rows)
    {
        var sb = new StringBuilder("kept,lib_loss_increase,pca_loss_increase\n");
        foreach (var r in rows) sb.Append(FormattableString.Invariant($"{r.Kept},{r.LibIncrease:R},{r.PcaIncrease:R}\n"));
        return sb.ToString();
    }

    // The fewest leading eigenvalues (descending) that hold `share` of their sum.
    static int Holding(Tensor descending, double share)
    {
        var v = descending.ToArray<double>();
        double total = v.Sum(), sum = 0;
        for (int i = 0; i < v.Length; i++)
            if ((sum += v[i]) >= share * total) return i + 1;
        return v.Length;
    }

    // Runs the 1-layer model up to its MLP for windows x [B, T]; checks the pieces against the model's own logits.
    static MlpRows Rows(Gpt gpt, Tensor x, Tensor y)
    {
        using var _ = Autograd.Autograd.NoGrad();
        var block = gpt.Blocks[0];
        int t = x.Size(1), c = gpt.Config.DModel;
        var e = gpt.Tok.Forward(x) + gpt.Pos!.Forward(Tensor.Arange(t));
        var h = e + block.Mixer.Forward(block.Ln1.Forward(e));
        var u = block.Ln2.Forward(h);
        var logits = gpt.LnF.Forward(h + block.Mlp.Forward(u)).MatMul(gpt.Tok.Weight.T);
        double gap = (logits - gpt.Forward(x)).Abs().Max().Item();
        if (!(gap < 1e-3)) throw new InvalidOperationException($"engine analyze lib: the MLP's pieces do not rebuild the model's logits (max gap {gap:G3})");
        return new MlpRows(u.Reshape(-1, c), h.Reshape(-1, c).To(DType.Float64), y.Reshape(-1));
    }

    // f_1 with its constant [N, hidden + 1] → logits [N, V]: proj (bias folded), + residual, ln_f, tied head; Float64.
    static Func<Tensor, Tensor> LogitsMap(Gpt gpt, Tensor residual)
    {
        var proj = gpt.Blocks[0].Mlp.Proj;
        var toResidual = LocalInteractionBasis.LinearMap(proj.Weight, proj.Bias, null);
        var lnW = gpt.LnF.Weight.Detach().To(DType.Float64);
        var lnB = gpt.LnF.Bias.Detach().To(DType.Float64);
        var head = gpt.Tok.Weight.Detach().To(DType.Float64);
        double eps = gpt.LnF.Eps;
        return f => (residual + toResidual(f)).LayerNorm(lnW, lnB, eps).MatMul(head.T);
    }
}
