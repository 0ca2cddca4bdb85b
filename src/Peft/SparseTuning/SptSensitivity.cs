namespace Engine.Peft.SparseTuning;

/// <summary>
/// SPT's calibration (ziplab/SPT <c>engine.py::get_sensitivity</c>): the squared gradients of the targeted weights summed
/// over the first K batches, the allocation of the budget (<see cref="SptAllocation"/>), and the configuration that
/// records it. Each sparse target's share is its positions (<see cref="Share"/>).
/// </summary>
public static class SptSensitivity
{
    /// <summary>A sparse target's selected flat positions in [out, in], ascending.</summary>
    public sealed record Share(long[] Positions);

    /// <summary>The sensitivities of the targets' weights, each [out · in] row-major (Float64), summed over at most K batches.</summary>
    public static double[][] Of(CalibrationContext context, int k)
    {
        var weights = context.Targets.Select(t => WeightGradients.WeightOf(t.Module)).ToList();
        var data = context.Data.Batches <= k ? context.Data : context.Data with { Batches = k };
        return WeightGradients.SumOfSquares(context.Model, data, weights).Select(s => s.ToDoubleArray()).ToArray();
    }

    /// <summary>Runs the sensitivity and the allocation; returns the configuration with the allocation and the positions by engine path.</summary>
    public static CalibrationResult Calibrate(SptConfig config, CalibrationContext context)
    {
        var sensitivity = Of(context, config.SensitivityBatchNum);
        var matrices = context.Targets.Select((t, i) =>
        {
            var w = WeightGradients.WeightOf(t.Module);
            return new SptAllocation.Matrix(t.Path.External, w.Size(0), w.Size(1), sensitivity[i]);
        }).ToList();
        long budget = config.Budget ?? matrices.Sum(m => (long)config.LowRankDim * (m.In + m.Out));
        long step = config.SweepStep ?? Math.Max(1, budget / 50);
        var result = SptAllocation.Allocate(matrices, config.LowRankDim, config.Alpha, budget, step);

        var kept = new List<string>();
        var structured = new List<string>();
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        var perTarget = new Dictionary<string, object>(StringComparer.Ordinal);
        for (int i = 0; i < matrices.Count; i++)
        {
            var choice = result.Choices[i];
            var path = context.Targets[i].Path;
            if (choice.Structured) structured.Add(path.External);
            else if (choice.Positions.Length > 0)
            {
                counts[path.External] = choice.Positions.Length;
                perTarget[path.Engine] = new Share(choice.Positions);
            }
            else continue;
            kept.Add(path.External);
        }
        if (kept.Count == 0) throw new InvalidOperationException("SPT: the allocation selected nothing (raise the budget)");
        var allocated = config with
        {
            TargetModules = ModuleSelector.Create(kept.ToArray()),
            Budget = budget,
            SweepStep = step,
            StructuredModules = structured,
            SparseCounts = counts,
        };
        return new CalibrationResult(allocated, perTarget);
    }
}
