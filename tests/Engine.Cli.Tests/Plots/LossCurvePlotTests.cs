using Engine.Cli.Plots;
using Xunit;

namespace Engine.Cli.Tests.Plots;

/// <summary>The loss curve: well-formed SVG with one vertex per recorded step and one marker per validation loss.</summary>
public sealed class LossCurvePlotTests
{
    // The first run's colour (tab10 blue) with the widths the writer gives training and validation lines.
    const string FirstTraining = "stroke:rgb(31,119,180);stroke-width:1.2", SecondTraining = "stroke:rgb(255,127,14);stroke-width:1.2";

    static string Written(LossCurve curve, string title = "engine test")
    {
        var path = Path.Combine(CliRun.TempFolder(), "loss.svg");
        LossCurvePlot.Write(curve, title, path);
        return path;
    }

    [Fact]
    public void Write_DrawsEveryTrainingStepAndEveryValidationLoss()
    {
        var curve = new LossCurve();
        var run = curve.Add("only");
        for (int step = 1; step <= 7; step++) run.Training.Add((step, 4.0 / step));
        run.Validation.AddRange([(0, 4.5), (4, 1.5), (7, 0.9)]);

        var svg = new SvgReader(Written(curve, "engine train --steps 7"));
        var line = svg.LongestLine(FirstTraining);
        Assert.Equal(7, line.Count);
        // The loss falls, so the line climbs down the page: y grows with the step (SVG's y points down).
        Assert.True(line.Zip(line.Skip(1)).All(p => p.First.X < p.Second.X && p.First.Y < p.Second.Y));
        // Three validation markers, plus the one sample marker the legend draws for the validation series.
        Assert.Equal(3 + 1, svg.Circles().Count);
        Assert.Contains("engine train --steps 7", svg.Texts());
        Assert.Contains("training", svg.Texts());
        Assert.Contains("validation", svg.Texts());
    }

    [Fact]
    public void Write_NamesEachRunInTheLegendWhenThereAreSeveral()
    {
        var curve = new LossCurve();
        var first = curve.Add("S4D");
        var second = curve.Add("attention");
        for (int step = 1; step <= 5; step++)
        {
            first.Training.Add((step, 2.0 - 0.1 * step));
            second.Training.Add((step, 2.0 - 0.2 * step));
        }

        var svg = new SvgReader(Written(curve));
        Assert.Equal(5, svg.LongestLine(FirstTraining).Count);
        Assert.Equal(5, svg.LongestLine(SecondTraining).Count);
        Assert.Contains("S4D: training", svg.Texts());
        Assert.Contains("attention: training", svg.Texts());
        Assert.Empty(svg.Circles());
    }

    [Fact]
    public void Averaged_ReplacesEachBucketOfStepsByItsMeans()
    {
        var points = Enumerable.Range(1, 10).Select(s => (s, 10.0 * s)).ToList();
        // Buckets of two consecutive steps: (1,2) → 1.5, (3,4) → 3.5, ...
        Assert.Equal([(1.5, 15.0), (3.5, 35.0), (5.5, 55.0), (7.5, 75.0), (9.5, 95.0)], LossCurvePlot.Averaged(points, 5));
        Assert.Equal(10, LossCurvePlot.Averaged(points, 10).Count);
    }

    [Fact]
    public void Write_KeepsALongRunSmall()
    {
        var curve = new LossCurve();
        var run = curve.Add("long");
        for (int step = 1; step <= 20_000; step++) run.Training.Add((step, 3 + Math.Sin(step)));
        var path = Written(curve);

        Assert.InRange(new SvgReader(path).LongestLine(FirstTraining).Count, 2, LossCurvePlot.MaxLinePoints);
        Assert.InRange(new FileInfo(path).Length, 1, 200_000);
    }
}
