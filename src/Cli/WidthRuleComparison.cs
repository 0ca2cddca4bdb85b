using System.Globalization;
using Engine.Nn;

namespace Engine.Cli;

/// <summary>
/// <c>engine optimizers --width-rule</c>: the check of the AdamW weight-decay width rule ("Robust Layerwise Scaling
/// Rules by Proper Weight Decay Tuning", Fan et al. 2025; structure-and-optimizers.md §3.2 with its correction, λ ∝ √d).
/// The names GPT trains at each width with AdamW (the preset's β and rate) twice: once with the same η and λ at every
/// width, once with <see cref="WidthScaling.Groups"/> from a base width (hidden matrices η·d_base/d, λ·√(d/d_base)).
/// The paper's diagnostic is the top singular value of a matrix at the end of training: with the rule it should match
/// across widths (here: within 20%), without it grow. It is a steady-state claim (the decay's time scale is
/// 1/(ηλ) steps), so the line under the table says how many of those time scales the budget covered.
/// </summary>
static class WidthRuleComparison
{
    public static int Run(ComparisonJob job, int[] widths, int baseWidth, double weightDecay)
    {
        var bad = widths.Where(w => w % job.Heads != 0).ToList();
        if (bad.Count > 0) throw new ArgumentException($"--heads {job.Heads} must divide every --widths value, not {string.Join(", ", bad)}");
        var adamw = OptimizerPresets.Get("adamw");
        string matrix = $"blocks.{Math.Min(1, job.Layers - 1)}.mlp.fc.weight";
        var (_, tokenizer) = ComparisonJob.Data();
        Console.WriteLine($"job: width rule — female names, {job.Describe(tokenizer).Replace($"d={job.Width}", $"d∈{{{string.Join(", ", widths)}}}")}");
        Console.WriteLine($"AdamW β (0.9, 0.99), η {OptimizersCommand.Show(adamw.Lr)}, λ {OptimizersCommand.Show(weightDecay)} at base width {baseWidth}; reported matrix: {matrix}");
        var rows = new List<(int Width, bool Rule, double Lr, double Decay, ComparisonOutcome Outcome, double Sigma)>();
        foreach (bool rule in new[] { false, true })
            foreach (int width in widths)
            {
                var (lr, decay) = rule ? WidthScaling.MatrixRule(adamw.Lr, weightDecay, baseWidth, width) : (adamw.Lr, weightDecay);
                var outcome = (job with { Width = width }).Train(model => new AdamW(
                    rule ? WidthScaling.Groups(model, adamw.Lr, weightDecay, baseWidth, width) : WeightDecayGroups.Build(model, adamw.Lr, weightDecay), beta2: 0.99));
                var weight = outcome.Model.NamedParameters().Single(p => p.Name == matrix).Parameter;
                double sigma = WidthScaling.TopSingularValue(weight, 50);
                Console.WriteLine($"  d={width} {(rule ? "with" : "without")} the rule: validation loss {outcome.FinalLoss:F4}, σ_max {sigma:F3}");
                rows.Add((width, rule, lr, decay, outcome, sigma));
            }

        Console.WriteLine();
        Console.WriteLine($"| width | rule | hidden η | hidden λ | validation loss | σ_max({matrix}) | σ_max / σ_max at d={baseWidth} |");
        Console.WriteLine("|---:|---|---:|---:|---:|---:|---:|");
        foreach (var row in rows)
        {
            var reference = rows.FirstOrDefault(r => r.Rule == row.Rule && r.Width == baseWidth);
            string ratio = reference.Sigma > 0 ? (row.Sigma / reference.Sigma).ToString("F2", CultureInfo.InvariantCulture) : "—";
            Console.WriteLine(FormattableString.Invariant(
                $"| {row.Width} | {(row.Rule ? "with" : "without")} | {OptimizersCommand.Show(row.Lr)} | {OptimizersCommand.Show(row.Decay)} | {(row.Outcome.Diverged ? "diverged" : row.Outcome.FinalLoss.ToString("F4", CultureInfo.InvariantCulture))} | {row.Sigma:F3} | {ratio} |"));
        }
        Console.WriteLine();
        foreach (bool rule in new[] { false, true })
        {
            var sigmas = rows.Where(r => r.Rule == rule).Select(r => r.Sigma).ToList();
            double spread = sigmas.Max() / sigmas.Min() - 1;
            Console.WriteLine(FormattableString.Invariant($"{(rule ? "with" : "without")} the rule: σ_max spread across widths (max/min − 1) {spread * 100:F0}% — {(spread <= 0.2 ? "within" : "not within")} 20%"));
        }
        Console.WriteLine(FormattableString.Invariant($"the budget covers {job.Steps * adamw.Lr * weightDecay:F2} decay time scales 1/(ηλ) at the base width's peak rate (the rule is about the steady state, several time scales in)"));
        return 0;
    }
}
