using OxyPlot;
using OxyPlot.Axes;
using OxyPlot.Legends;
using OxyPlot.Series;

namespace Engine.Cli.Plots;

/// <summary>
/// Draws a <see cref="LossCurve"/>: per run, the training loss per step as a thin line and the validation losses as
/// dashed lines with a marker at each evaluation, in the run's colour. Long runs are averaged into at most
/// <see cref="MaxLinePoints"/> points per line, which keeps the file small and the noise readable.
/// </summary>
public static class LossCurvePlot
{
    /// <summary>The most points one training line keeps (consecutive steps are averaged beyond it).</summary>
    public const int MaxLinePoints = 600;

    // The categorical palette of matplotlib (tab10), so runs are told apart in print and by colour-blind readers.
    internal static readonly OxyColor[] Colors = new[] { "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f" }
        .Select(OxyColor.Parse).ToArray();

    /// <summary>Writes <paramref name="curve"/> to <paramref name="path"/> as SVG under <paramref name="title"/>.</summary>
    public static void Write(LossCurve curve, string title, string path) => SvgPlotFile.Write(Build(curve, title), path);

    /// <summary>The plot model of <paramref name="curve"/>.</summary>
    public static PlotModel Build(LossCurve curve, string title)
    {
        var model = SvgPlotFile.NewModel(SvgPlotFile.Shorten(title), "training loss per step; validation loss where the command computes it");
        model.Axes.Add(new LinearAxis { Position = AxisPosition.Bottom, Title = "step", Minimum = 0, MajorGridlineStyle = LineStyle.Dot });
        model.Axes.Add(new LinearAxis { Position = AxisPosition.Left, Title = "loss (nats)", MajorGridlineStyle = LineStyle.Dot });
        model.Legends.Add(new Legend { LegendPosition = LegendPosition.TopRight, LegendBackground = OxyColor.FromAColor(220, OxyColors.White), LegendBorder = OxyColors.LightGray });
        bool named = curve.Runs.Count > 1;
        for (int i = 0; i < curve.Runs.Count; i++)
        {
            var run = curve.Runs[i];
            var color = Colors[i % Colors.Length];
            string prefix = named ? run.Label + ": " : "";
            if (run.Training.Count > 0)
            {
                var line = new LineSeries { Title = prefix + "training", Color = color, StrokeThickness = 1.2 };
                line.Points.AddRange(Averaged(run.Training, MaxLinePoints).Select(p => new DataPoint(p.Step, p.Loss)));
                model.Series.Add(line);
            }
            if (run.Validation.Count > 0)
            {
                var validation = new LineSeries
                {
                    Title = prefix + "validation", Color = color, LineStyle = LineStyle.Dash, StrokeThickness = 2,
                    MarkerType = MarkerType.Circle, MarkerSize = 4, MarkerFill = OxyColors.White, MarkerStroke = color, MarkerStrokeThickness = 1.5,
                };
                validation.Points.AddRange(run.Validation.Select(p => new DataPoint(p.Step, p.Loss)));
                model.Series.Add(validation);
            }
        }
        return model;
    }

    /// <summary>
    /// <paramref name="points"/> in at most <paramref name="max"/> buckets of consecutive steps, each the mean step and
    /// mean loss of its bucket; unchanged when short enough.
    /// </summary>
    public static List<(double Step, double Loss)> Averaged(IReadOnlyList<(int Step, double Loss)> points, int max)
    {
        if (max < 1) throw new ArgumentOutOfRangeException(nameof(max), max, "LossCurvePlot.Averaged: need at least one point");
        if (points.Count <= max) return points.Select(p => ((double)p.Step, p.Loss)).ToList();
        var result = new List<(double, double)>(max);
        for (int b = 0; b < max; b++)
        {
            int start = (int)((long)b * points.Count / max), end = (int)((long)(b + 1) * points.Count / max);
            double step = 0, loss = 0;
            for (int i = start; i < end; i++) { step += points[i].Step; loss += points[i].Loss; }
            result.Add((step / (end - start), loss / (end - start)));
        }
        return result;
    }
}
