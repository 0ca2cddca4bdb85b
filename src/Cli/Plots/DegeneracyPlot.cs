using OxyPlot;
using OxyPlot.Axes;
using OxyPlot.Legends;
using OxyPlot.Series;

namespace Engine.Cli.Plots;

/// <summary>
/// The pictures of the degeneracy demos (spec seeds-remaining.md §9): λ̂ against the training step, one line per run
/// (<c>engine analyze llc --plot</c>), and the ablation curves of LIB against PCA (<c>engine analyze lib --plot</c>).
/// </summary>
public static class DegeneracyPlot
{
    /// <summary>λ̂ ± its spread over chains against the step, one line per run, written to <paramref name="path"/> as SVG.</summary>
    public static void WriteLlc(IReadOnlyList<(string Run, int Step, double Llc, double Std)> points, string title, string path)
    {
        var model = SvgPlotFile.NewModel(SvgPlotFile.Shorten(title), "local learning coefficient λ̂ at each checkpoint (± spread over chains)");
        model.Axes.Add(new LinearAxis { Position = AxisPosition.Bottom, Title = "training step", MajorGridlineStyle = LineStyle.Dot });
        model.Axes.Add(new LinearAxis { Position = AxisPosition.Left, Title = "λ̂", MajorGridlineStyle = LineStyle.Dot });
        model.Legends.Add(Legend());
        int i = 0;
        foreach (var run in points.GroupBy(p => p.Run))
        {
            var color = LossCurvePlot.Colors[i++ % LossCurvePlot.Colors.Length];
            var line = new ScatterErrorSeries { Title = run.Key, MarkerType = MarkerType.Circle, MarkerSize = 4, MarkerFill = color, ErrorBarColor = color };
            line.Points.AddRange(run.Select(p => new ScatterErrorPoint(p.Step, p.Llc, 0, p.Std)));
            var joined = new LineSeries { Color = color, StrokeThickness = 1.5 };
            joined.Points.AddRange(run.Select(p => new DataPoint(p.Step, p.Llc)));
            model.Series.Add(joined);
            model.Series.Add(line);
        }
        SvgPlotFile.Write(model, path);
    }

    /// <summary>The loss increase against the directions kept, for LIB and PCA, written to <paramref name="path"/> as SVG.</summary>
    public static void WriteAblation(IReadOnlyList<(int Kept, double Lib, double Pca)> rows, string title, string path)
    {
        var model = SvgPlotFile.NewModel(SvgPlotFile.Shorten(title), "validation loss increase when the hidden layer keeps only k directions");
        model.Axes.Add(new LinearAxis { Position = AxisPosition.Bottom, Title = "directions kept k", Minimum = 0, MajorGridlineStyle = LineStyle.Dot });
        model.Axes.Add(new LinearAxis { Position = AxisPosition.Left, Title = "loss increase (nats)", MajorGridlineStyle = LineStyle.Dot });
        model.Legends.Add(Legend());
        foreach (var (name, pick, color) in new (string, Func<(int Kept, double Lib, double Pca), double>, OxyColor)[]
                 { ("LIB (strongest Λ)", r => r.Lib, LossCurvePlot.Colors[0]), ("PCA (largest D)", r => r.Pca, LossCurvePlot.Colors[1]) })
        {
            var line = new LineSeries { Title = name, Color = color, StrokeThickness = 2, MarkerType = MarkerType.Circle, MarkerSize = 4, MarkerFill = color };
            line.Points.AddRange(rows.OrderBy(r => r.Kept).Select(r => new DataPoint(r.Kept, pick(r))));
            model.Series.Add(line);
        }
        SvgPlotFile.Write(model, path);
    }

    static Legend Legend() => new() { LegendPosition = LegendPosition.TopRight, LegendBackground = OxyColor.FromAColor(220, OxyColors.White), LegendBorder = OxyColors.LightGray };
}
