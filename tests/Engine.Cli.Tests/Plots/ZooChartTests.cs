using Engine.Cli.Plots;
using Xunit;

namespace Engine.Cli.Tests.Plots;

/// <summary>The zoo chart: one labelled marker per method on a logarithmic parameter axis.</summary>
public sealed class ZooChartTests
{
    [Fact]
    public void Write_DrawsOneLabelledPointPerMethodOnALogAxis()
    {
        ZooPoint[] points = [new("ia3", 100, 2.4), new("lora", 1_000, 2.2), new("vera", 10_000, 2.1), new("full", 100_000, 2.0)];
        var path = Path.Combine(CliRun.TempFolder(), "zoo.svg");
        ZooChart.Write(points, before: 2.6, "names job", path);

        var svg = new SvgReader(path);
        var circles = svg.Circles().OrderBy(c => c.X).ToList();
        Assert.Equal(4, circles.Count);
        foreach (var p in points) Assert.Single(svg.Texts(), t => t == p.Method);
        // Each point is ten times the last: on a log axis they are evenly spaced.
        var gaps = circles.Zip(circles.Skip(1)).Select(p => p.Second.X - p.First.X).ToList();
        Assert.All(gaps, g => Assert.Equal(gaps[0], g, 0.01));
        // Lower loss is drawn lower down (SVG's y points down).
        Assert.True(circles.Zip(circles.Skip(1)).All(p => p.First.Y < p.Second.Y));
        Assert.Contains("before fine-tuning", svg.Texts());
    }

    [Fact]
    public void Build_RefusesAMethodWithoutTrainableParameters()
    {
        var e = Assert.Throws<ArgumentException>(() => ZooChart.Build([new("lora", 10, 2.0), new("none", 0, 2.0)], null, "job"));
        Assert.Contains("'none'", e.Message);
    }
}
