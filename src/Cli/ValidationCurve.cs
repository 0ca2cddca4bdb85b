namespace Engine.Cli;

/// <summary>
/// A validation-loss curve, measured every few steps: the "steps to reach AdamW's final loss" of the optimiser
/// comparison (issue 21; "Fantastic Pretraining Optimizers", structure-and-optimizers.md §3.1, measures speed-ups as
/// the data an optimiser needs to match a tuned AdamW's final loss).
/// </summary>
static class ValidationCurve
{
    /// <summary>
    /// The first measured step whose loss is at most <paramref name="target"/>; null when no measurement reaches it
    /// (a NaN loss never does). <paramref name="curve"/> is in the order it was measured (increasing steps).
    /// Example: <c>StepsToReach([(10, 3.0), (20, 2.5), (30, 2.4)], 2.5) == 20</c>.
    /// </summary>
    public static int? StepsToReach(IReadOnlyList<(int Step, double Loss)> curve, double target)
    {
        foreach (var (step, loss) in curve)
            if (loss <= target) return step;
        return null;
    }

    /// <summary>The median of <paramref name="values"/> (mean of the middle two for an even count); NaN when empty.</summary>
    public static double Median(IReadOnlyList<double> values)
    {
        if (values.Count == 0) return double.NaN;
        var sorted = values.Order().ToArray();
        int mid = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
    }
}
