using System.CommandLine;
using System.Globalization;
using Engine.Nn;

namespace Engine.Cli;

/// <summary>
/// <c>engine optimizers</c>: the small-scale comparison of issue 21 after "Fantastic Pretraining Optimizers" (Wen et
/// al. 2025; structure-and-optimizers.md §3.1). Every optimiser of <see cref="OptimizerPresets"/> trains the same
/// names job (<see cref="ComparisonJob"/>: same data order, initialisation and schedule) at a few multiples of its
/// preset's learning rate; the table gives the best validation loss at the step budget, the steps its best run needs
/// to reach the best AdamW run's final loss, and the median time per step. The paper compares only at the end of
/// training (schedules flip rankings), hence the fixed budget with the whole schedule in each run.
/// <c>--width-rule</c> instead checks the AdamW weight-decay width rule (§3.2, <see cref="WidthRuleComparison"/>).
/// </summary>
static class OptimizersCommand
{
    public static Command Create()
    {
        var optimizers = new Option<string[]>("--optimizers")
        {
            Description = $"optimisers to compare (default: all; adamw, the baseline, is always run): {string.Join(", ", OptimizerPresets.Names)}",
            Arity = ArgumentArity.OneOrMore, AllowMultipleArgumentsPerToken = true,
        };
        optimizers.Validators.Add(r =>
        {
            var unknown = (r.GetValueOrDefault<string[]>() ?? []).Where(n => !OptimizerPresets.Names.Contains(n, StringComparer.OrdinalIgnoreCase)).ToList();
            if (unknown.Count > 0)
                r.AddError($"--optimizers: unknown optimizer(s) {string.Join(", ", unknown.Select(n => $"'{n}'"))}; expected some of: {string.Join(", ", OptimizerPresets.Names)}");
        });
        var model = new Option<string>("--model") { Description = "names: engine train's GPT (d 64, 4 layers, context 32, batch 32); tiny-gpt: the training benchmark's tiny GPT (d 128, 4 layers, context 128, batch 16) on the same names", DefaultValueFactory = _ => "names" };
        model.AcceptOnlyFromAmong("names", "tiny-gpt");
        var steps = ValidatedOption.OptionalInteger("--steps", $"step budget of every run (default {NamesSteps} for names, {TinyGptSteps} for tiny-gpt)", min: 1);
        var evalEvery = ValidatedOption.OptionalInteger("--eval-every", "steps between validation losses (default: a twentieth of the budget)", min: 1);
        var factors = new Option<double[]>("--lr-factors") { Description = "multiples of each preset's learning rate to sweep", DefaultValueFactory = _ => [0.5, 1, 2], Arity = ArgumentArity.OneOrMore, AllowMultipleArgumentsPerToken = true };
        factors.Validators.Add(r =>
        {
            var bad = (r.GetValueOrDefault<double[]>() ?? []).Where(f => !(f > 0) || !double.IsFinite(f)).ToList();
            if (bad.Count > 0) r.AddError($"--lr-factors must be finite numbers greater than 0, got {Show(bad[0])}");
        });
        var width = ValidatedOption.OptionalInteger("--width", "model width (overrides --model's)", min: 1);
        var layers = ValidatedOption.OptionalInteger("--layers", "transformer blocks (overrides --model's)", min: 1);
        var heads = ValidatedOption.OptionalInteger("--heads", "attention heads (overrides --model's)", min: 1);
        var context = ValidatedOption.OptionalInteger("--context", "tokens per sequence (overrides --model's)", min: 1);
        var batch = ValidatedOption.OptionalInteger("--batch", "sequences per batch (overrides --model's)", min: 1);
        var seed = new Option<ulong>("--seed") { Description = "seed of the split, initialisation and data order (the same for every run)", DefaultValueFactory = _ => 1 };
        var widthRule = new Option<bool>("--width-rule") { Description = "instead: AdamW at --widths with and without the weight-decay width rule, and the top singular value of blocks.1.mlp.fc.weight (or block 0's with one layer)" };
        var widths = new Option<int[]>("--widths") { Description = "widths for --width-rule", DefaultValueFactory = _ => [32, 64, 128], Arity = ArgumentArity.OneOrMore, AllowMultipleArgumentsPerToken = true };
        widths.Validators.Add(r => { if ((r.GetValueOrDefault<int[]>() ?? []).Any(w => w < 1)) r.AddError("--widths must be positive integers"); });
        var baseWidth = ValidatedOption.Integer("--base-width", "the width whose rates the rule starts from (--width-rule)", 64, min: 1);
        var weightDecay = ValidatedOption.OptionalNumber("--weight-decay", "AdamW's λ at the base width for --width-rule (default: the preset's 0.1)", 0, 100);

        var command = new Command("optimizers", "compare the optimisers on the names job: a learning-rate sweep each, best validation loss at a step budget, steps to reach AdamW's loss, time per step");
        foreach (var o in new Option[] { optimizers, model, steps, evalEvery, factors, width, layers, heads, context, batch, seed, widthRule, widths, baseWidth, weightDecay }) command.Options.Add(o);
        command.SetAction(r =>
        {
            bool tiny = r.GetValue(model) == "tiny-gpt";
            int budget = r.GetValue(steps) ?? (tiny ? TinyGptSteps : NamesSteps);
            var job = new ComparisonJob(r.GetValue(width) ?? (tiny ? 128 : 64), r.GetValue(layers) ?? 4, r.GetValue(heads) ?? 4,
                r.GetValue(context) ?? (tiny ? 128 : 32), r.GetValue(batch) ?? (tiny ? 16 : 32), budget, r.GetValue(evalEvery) ?? Math.Max(1, budget / 20), r.GetValue(seed));
            Console.WriteLine($"CPU: {ZooCommand.CpuModel()}, {Environment.ProcessorCount} logical cores");
            if (r.GetValue(widthRule))
                return WidthRuleComparison.Run(job, r.GetValue(widths)!, r.GetValue(baseWidth), r.GetValue(weightDecay) ?? OptimizerPresets.Get("adamw").WeightDecay);
            var names = r.GetValue(optimizers) is { Length: > 0 } given ? given : [.. OptimizerPresets.Names];
            return Run(job, tiny ? "tiny-gpt" : "names", names, r.GetValue(factors)!);
        });
        return command;
    }

    /// <summary>The default budgets: the names table with the eight presets of issue 21 (24 runs of about 75 ms a step) takes about 10 minutes on 2 shared cores.</summary>
    const int NamesSteps = 300, TinyGptSteps = 60;

    static int Run(ComparisonJob job, string modelName, IReadOnlyList<string> requested, double[] factors)
    {
        if (job.Width % job.Heads != 0) throw new ArgumentException($"--heads {job.Heads} must divide --width {job.Width}");
        // AdamW is the baseline every other row is measured against, so it runs first whether asked for or not.
        var presets = requested.Select(OptimizerPresets.Get).DistinctBy(p => p.Name).ToList();
        if (presets.All(p => p.Name != "adamw")) presets.Insert(0, OptimizerPresets.Get("adamw"));
        else presets = [.. presets.Where(p => p.Name == "adamw"), .. presets.Where(p => p.Name != "adamw")];

        var (_, tokenizer) = ComparisonJob.Data();
        Console.WriteLine($"job: {modelName} — female names, {job.Describe(tokenizer)}; learning rates swept at ×{string.Join(", ×", factors.Select(Show))} each preset's");
        var rows = new List<Row>();
        foreach (var preset in presets)
        {
            var sweep = factors.Select(f =>
            {
                double lr = preset.Lr * f;
                var outcome = job.Train(model => preset.Create(model, lr));
                Console.WriteLine($"  {preset.Name} lr {Show(lr)}: " + (outcome.Diverged ? $"diverged after step {(outcome.Curve.Count > 0 ? outcome.Curve[^1].Step : 0)}" : $"validation loss {outcome.FinalLoss:F4}") +
                    $", {outcome.MedianStepSeconds * 1e3:F1} ms/step");
                return (Lr: lr, Outcome: outcome);
            }).ToList();
            rows.Add(new Row(preset, sweep));
        }

        double target = rows[0].Best is { } adamw ? adamw.Outcome.FinalLoss : double.NaN;
        Console.WriteLine();
        Console.WriteLine($"| optimiser | sweep: lr → validation loss at {job.Steps} steps | best lr | best validation loss | steps to AdamW's {target:F4} | speed-up | ms/step (median) |");
        Console.WriteLine("|---|---|---:|---:|---:|---:|---:|");
        foreach (var row in rows)
        {
            string sweep = string.Join("; ", row.Sweep.Select(s => $"{Show(s.Lr)} → {(s.Outcome.Diverged ? "diverged" : s.Outcome.FinalLoss.ToString("F4", CultureInfo.InvariantCulture))}"));
            var best = row.Best;
            int? reach = best is null ? null : ValidationCurve.StepsToReach(best.Value.Outcome.Curve, target);
            double ms = ValidationCurve.Median(row.Sweep.Select(s => s.Outcome.MedianStepSeconds).Where(double.IsFinite).ToList()) * 1e3;
            Console.WriteLine(FormattableString.Invariant(
                $"| {row.Preset.Name} | {sweep} | {(best is null ? "—" : Show(best.Value.Lr))} | {(best is null ? "all diverged" : best.Value.Outcome.FinalLoss.ToString("F4", CultureInfo.InvariantCulture))} | {(reach is { } n ? n.ToString(CultureInfo.InvariantCulture) : "—")} | {(reach is { } m ? $"{(double)job.Steps / m:F2}×" : "—")} | {ms:F1} |"));
        }
        Console.WriteLine();
        Console.WriteLine($"steps to reach: the first validation (every {job.EvalEvery} steps) of each optimiser's best run at or below the best AdamW run's final loss; speed-up = budget / those steps; ms/step: median over the sweep of each run's median step.");
        return 0;
    }

    sealed record Row(OptimizerPreset Preset, List<(double Lr, ComparisonOutcome Outcome)> Sweep)
    {
        public (double Lr, ComparisonOutcome Outcome)? Best =>
            Sweep.Where(s => !s.Outcome.Diverged).OrderBy(s => s.Outcome.FinalLoss).Select(s => ((double, ComparisonOutcome)?)s).FirstOrDefault();
    }

    internal static string Show(double value) => value.ToString("G3", CultureInfo.InvariantCulture);
}
