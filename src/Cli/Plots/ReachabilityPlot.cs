using OxyPlot;
using OxyPlot.Axes;
using OxyPlot.Legends;
using OxyPlot.Series;

namespace Engine.Cli.Plots;

/// <summary>
/// The picture of <c>engine analyze reachability</c>: the fraction of (x0, y*) pairs reachable with a control prompt of
/// at most k tokens, one line per method (exact enumeration, greedy, back-off), as the paper's k-ε plots show it.
/// </summary>
public static class ReachabilityPlot
{
    /// <summary>One method's points (k, reachable fraction).</summary>
    public sealed record Curve(string Label, IReadOnlyList<(int K, double Fraction)> Points);

    static readonly OxyColor[] Colors = new[] { "#1f77b4", "#ff7f0e", "#2ca02c" }.Select(OxyColor.Parse).ToArray();

    /// <summary>Writes the curves to <paramref name="path"/> as SVG.</summary>
    public static void Write(IReadOnlyList<Curve> curves, string title, string path) => SvgPlotFile.Write(Build(curves, title), path);

    /// <summary>The plot model of <paramref name="curves"/>.</summary>
    public static PlotModel Build(IReadOnlyList<Curve> curves, string title)
    {
        var model = SvgPlotFile.NewModel(SvgPlotFile.Shorten(title), "fraction of (x0, y*) pairs whose y* is the argmax after some u ⊕ x0 with |u| ≤ k");
        model.Axes.Add(new LinearAxis { Position = AxisPosition.Bottom, Title = "control prompt length k", Minimum = 0, MajorStep = 1, MajorGridlineStyle = LineStyle.Dot });
        model.Axes.Add(new LinearAxis { Position = AxisPosition.Left, Title = "reachable fraction", Minimum = 0, Maximum = 1.02, MajorGridlineStyle = LineStyle.Dot });
        model.Legends.Add(new Legend { LegendPosition = LegendPosition.BottomRight, LegendBackground = OxyColor.FromAColor(220, OxyColors.White), LegendBorder = OxyColors.LightGray });
        for (int i = 0; i < curves.Count; i++)
        {
            var color = Colors[i % Colors.Length];
            var line = new LineSeries
            {
                Title = curves[i].Label, Color = color, StrokeThickness = 2, LineStyle = i == 0 ? LineStyle.Solid : LineStyle.Dash,
                MarkerType = MarkerType.Circle, MarkerSize = 4, MarkerFill = OxyColors.White, MarkerStroke = color, MarkerStrokeThickness = 1.5,
            };
            line.Points.AddRange(curves[i].Points.Select(p => new DataPoint(p.K, p.Fraction)));
            model.Series.Add(line);
        }
        return model;
    }
}
