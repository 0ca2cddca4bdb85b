using System.Globalization;
using OxyPlot;
using OxyPlot.Annotations;
using OxyPlot.Axes;
using OxyPlot.Series;

namespace Engine.Cli.Plots;

/// <summary>
/// Draws a <see cref="RankMap"/> as a heat map: one row per layer (the first at the top), one column per module, each
/// cell coloured and labelled by its final rank on a scale from 0 to the initial rank; cells that are not adapted
/// are grey and unlabelled.
/// </summary>
public static class RankMapPlot
{
    /// <summary>Writes <paramref name="map"/> to <paramref name="path"/> as SVG.</summary>
    public static void Write(RankMap map, string path) =>
        SvgPlotFile.Write(Build(map), path, SvgPlotFile.Width, Math.Clamp(140 + 44 * map.Layers.Count, 300, 900));

    /// <summary>The plot model of <paramref name="map"/>.</summary>
    public static PlotModel Build(RankMap map)
    {
        int layers = map.Layers.Count, modules = map.Modules.Count;
        var model = SvgPlotFile.NewModel($"{map.Method} ranks after training (layer x module)",
            $"{map.TotalRank} of {map.CellCount * map.InitialRank} rank-1 triplets kept: initial rank {map.InitialRank} per module, target {map.TargetRank} on average");
        model.Axes.Add(new CategoryAxis { Position = AxisPosition.Bottom, Key = "modules", Title = "module", ItemsSource = map.Modules.ToArray(), GapWidth = 0 });
        // StartPosition 1 / EndPosition 0: the first layer at the top, as the model reads.
        model.Axes.Add(new CategoryAxis { Position = AxisPosition.Left, Key = "layers", Title = "layer", ItemsSource = map.Layers.ToArray(), GapWidth = 0, StartPosition = 1, EndPosition = 0 });
        model.Axes.Add(new LinearColorAxis
        {
            Position = AxisPosition.Right, Title = "rank", Palette = OxyPalettes.Viridis(64), Minimum = 0, Maximum = Math.Max(1, map.InitialRank),
            InvalidNumberColor = OxyColors.LightGray,
        });
        var data = new double[modules, layers];
        for (int m = 0; m < modules; m++)
            for (int l = 0; l < layers; l++)
                data[m, l] = map.Ranks[l, m] ?? double.NaN;
        model.Series.Add(new HeatMapSeries
        {
            XAxisKey = "modules", YAxisKey = "layers", X0 = 0, X1 = modules - 1, Y0 = 0, Y1 = layers - 1, Data = data,
            CoordinateDefinition = HeatMapCoordinateDefinition.Center, RenderMethod = HeatMapRenderMethod.Rectangles,
        });
        // Labels as annotations rather than the series' own, which would print "NaN" on cells that are not adapted.
        for (int l = 0; l < layers; l++)
            for (int m = 0; m < modules; m++)
                if (map.Ranks[l, m] is { } rank)
                    model.Annotations.Add(new TextAnnotation
                    {
                        Text = rank.ToString(CultureInfo.InvariantCulture), TextPosition = new DataPoint(m, l), XAxisKey = "modules", YAxisKey = "layers",
                        TextHorizontalAlignment = HorizontalAlignment.Center, TextVerticalAlignment = VerticalAlignment.Middle, StrokeThickness = 0,
                        FontSize = 15, FontWeight = FontWeights.Bold,
                        // Viridis is dark at the low end and light at the high end.
                        TextColor = rank < 0.6 * map.InitialRank ? OxyColors.White : OxyColors.Black,
                    });
        return model;
    }
}
