namespace Engine.Cli.Plots;

/// <summary>The zoo's rows as the points of its chart (<see cref="ZooChart"/>), recorded when <c>engine zoo --plot</c> runs.</summary>
static class ZooPlot
{
    /// <summary>Records the rows of <paramref name="table"/> (a zoo table as written to the README, kept rows included).</summary>
    public static void Record(string table, int steps, int rank)
    {
        var rows = ZooTableRows.Points(table).ToList();
        if (PlotRecorder.Current is null || rows.Count == 0) return;
        var points = rows.Select(r => new ZooPoint(r.Method, r.Trainable, r.LossAfter)).ToList();
        // Most methods start at the base model, so the median loss before is the base model's (input-side and inserted methods start elsewhere).
        var before = rows.Select(r => r.LossBefore).Order().ToList();
        PlotRecorder.ZooResults(points, before[before.Count / 2],
            $"names job: female-names GPT adapted to male names, {steps} steps of batch 32, --rank {rank}, each method's tuned learning rate");
    }
}
