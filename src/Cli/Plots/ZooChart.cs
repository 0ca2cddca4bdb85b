using OxyPlot;
using OxyPlot.Annotations;
using OxyPlot.Axes;
using OxyPlot.Series;

namespace Engine.Cli.Plots;

/// <summary>One method of the zoo: its name, trainable parameters and validation loss after fine-tuning.</summary>
/// <param name="Method">The method's command-line name.</param>
/// <param name="Trainable">Trainable parameters (positive: the x axis is logarithmic).</param>
/// <param name="Loss">Validation loss after fine-tuning.</param>
public sealed record ZooPoint(string Method, long Trainable, double Loss);

/// <summary>
/// The zoo as a picture: validation loss after fine-tuning against trainable parameters (log scale), one labelled
/// point per method, and the loss before fine-tuning as a dotted line, so "how much does each parameter buy" reads
/// at a glance.
/// </summary>
public static class ZooChart
{
    /// <summary>Writes the chart of <paramref name="points"/> to <paramref name="path"/> as SVG.</summary>
    /// <param name="before">The loss before fine-tuning (a horizontal reference line), or null for none.</param>
    public static void Write(IReadOnlyList<ZooPoint> points, double? before, string subtitle, string path) =>
        SvgPlotFile.Write(Build(points, before, subtitle), path, SvgPlotFile.Width, Height);

    /// <summary>The chart's height in pixels (taller than the other pictures: the labels need room).</summary>
    public const double Height = 520;

    /// <summary>The plot model of <paramref name="points"/>.</summary>
    /// <exception cref="ArgumentException">A method has no trainable parameter (it has no place on a log axis), or no point is given.</exception>
    public static PlotModel Build(IReadOnlyList<ZooPoint> points, double? before, string subtitle)
    {
        if (points.Count == 0) throw new ArgumentException("ZooChart: no method to draw");
        if (points.FirstOrDefault(p => p.Trainable < 1) is { } bad)
            throw new ArgumentException($"ZooChart: method '{bad.Method}' has {bad.Trainable} trainable parameters; the log axis needs at least 1");
        const double fontSize = 11, markerSize = 4.5;
        var model = SvgPlotFile.NewModel("Validation loss against trainable parameters", SvgPlotFile.Shorten(subtitle, 120));
        var trainable = new LogarithmicAxis
        {
            Position = AxisPosition.Bottom, Title = "trainable parameters (log scale)", MajorGridlineStyle = LineStyle.Dot,
            // Room on the right for the last label.
            Minimum = points.Min(p => p.Trainable) / 2.0, Maximum = points.Max(p => p.Trainable) * 8.0,
        };
        model.Axes.Add(trainable);
        // The loss axis spans the points and the reference line, which OxyPlot's automatic range would leave out.
        double low = Math.Min(points.Min(p => p.Loss), before ?? double.PositiveInfinity), high = Math.Max(points.Max(p => p.Loss), before ?? double.NegativeInfinity);
        double pad = high > low ? 0.08 * (high - low) : 0.05;
        var loss = new LinearAxis
        {
            Position = AxisPosition.Left, Title = "validation loss after fine-tuning (nats)", MajorGridlineStyle = LineStyle.Dot,
            Minimum = low - pad, Maximum = high + pad,
        };
        model.Axes.Add(loss);
        var scatter = new ScatterSeries { MarkerType = MarkerType.Circle, MarkerSize = markerSize, MarkerFill = LossCurvePlot.Colors[0], MarkerStroke = OxyColors.White };
        foreach (var p in points) scatter.Points.Add(new ScatterPoint(p.Trainable, p.Loss));
        model.Series.Add(scatter);
        if (before is { } b)
            model.Annotations.Add(new LineAnnotation
            {
                Type = LineAnnotationType.Horizontal, Y = b, Color = OxyColors.Gray, LineStyle = LineStyle.Dot, Text = "before fine-tuning",
                TextColor = OxyColors.Gray,
            });
        // Methods of one family sit on top of each other (LoRA's variants share a parameter count): the labels are
        // placed on the laid-out chart so that none covers another.
        SvgPlotFile.Layout(model, SvgPlotFile.Width, Height);
        var screen = points.Select(p => (trainable.Transform(p.Trainable), loss.Transform(p.Loss))).ToList();
        var placed = LabelPlacement.Place(screen, points.Select(p => p.Method).ToList(), fontSize, markerSize);
        for (int i = 0; i < points.Count; i++)
            model.Annotations.Add(new TextAnnotation
            {
                Text = points[i].Method, TextPosition = new DataPoint(points[i].Trainable, points[i].Loss), Offset = new ScreenVector(placed[i].Dx, placed[i].Dy),
                StrokeThickness = 0, FontSize = fontSize, TextVerticalAlignment = VerticalAlignment.Middle,
                TextHorizontalAlignment = placed[i].Left ? HorizontalAlignment.Right : HorizontalAlignment.Left,
            });
        return model;
    }
}
