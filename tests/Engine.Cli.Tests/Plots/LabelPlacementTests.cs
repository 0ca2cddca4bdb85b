using Engine.Cli.Plots;
using Xunit;

namespace Engine.Cli.Tests.Plots;

/// <summary>Label placement: labels of crowded points end up apart from each other and from every point.</summary>
public sealed class LabelPlacementTests
{
    [Fact]
    public void Place_KeepsLabelsOfCrowdedPointsApart()
    {
        // Five methods on one spot and one close by, as LoRA's variants in the zoo.
        (double X, double Y)[] points = [(100, 200), (100, 200), (100, 201), (102, 199), (105, 200), (300, 50)];
        string[] texts = ["lora", "rslora", "pissa", "olora", "dora", "full"];
        const double font = 10, marker = 4;
        var placed = LabelPlacement.Place(points, texts, font, marker);

        var boxes = placed.Select((p, i) =>
        {
            double width = 0.6 * font * texts[i].Length, x = points[i].X + p.Dx - (p.Left ? width : 0), y = points[i].Y + p.Dy - 0.6 * font;
            return (X0: x, Y0: y, X1: x + width, Y1: y + 1.2 * font);
        }).ToList();
        bool Overlap((double X0, double Y0, double X1, double Y1) a, (double X0, double Y0, double X1, double Y1) b) =>
            a.X0 < b.X1 && b.X0 < a.X1 && a.Y0 < b.Y1 && b.Y0 < a.Y1;
        for (int i = 0; i < boxes.Count; i++)
        {
            for (int j = i + 1; j < boxes.Count; j++) Assert.False(Overlap(boxes[i], boxes[j]), $"{texts[i]} covers {texts[j]}");
            foreach (var (x, y) in points) Assert.False(Overlap(boxes[i], (x - marker, y - marker, x + marker, y + marker)), $"{texts[i]} covers a point");
        }
        // A lone point keeps the first choice: right of it, on its line.
        Assert.Equal(new LabelPlacement.Placement(marker + 3, 0, false), placed[5]);
    }
}
