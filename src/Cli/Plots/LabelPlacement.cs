namespace Engine.Cli.Plots;

/// <summary>
/// Places point labels so that none covers another label or another point: each label tries the right of its point,
/// then the left, at rising distances above and below, and keeps the first free spot (greedy, in the order given).
/// Works in screen units; text width is estimated from the number of characters, which is enough to keep clear.
/// </summary>
public static class LabelPlacement
{
    /// <summary>A placed label: its offset from the point and whether it sits to the left (text right-aligned).</summary>
    public readonly record struct Placement(double Dx, double Dy, bool Left);

    /// <summary>Offsets for the labels of <paramref name="points"/> (screen positions) with texts <paramref name="texts"/>.</summary>
    /// <param name="fontSize">The labels' font size; a character is taken as 0.6 of it wide, a line as 1.2 of it high.</param>
    /// <param name="markerRadius">The points' marker radius, kept clear too.</param>
    public static Placement[] Place(IReadOnlyList<(double X, double Y)> points, IReadOnlyList<string> texts, double fontSize, double markerRadius)
    {
        if (points.Count != texts.Count) throw new ArgumentException($"LabelPlacement: {points.Count} points but {texts.Count} labels");
        double height = 1.2 * fontSize, gap = markerRadius + 3;
        var taken = points.Select(p => Box(p.X - markerRadius, p.Y - markerRadius, 2 * markerRadius, 2 * markerRadius)).ToList();
        var result = new Placement[points.Count];
        for (int i = 0; i < points.Count; i++)
        {
            double width = 0.6 * fontSize * texts[i].Length;
            Placement? chosen = null;
            foreach (var (dy, left) in Candidates(height))
            {
                double x = left ? points[i].X - gap - width : points[i].X + gap;
                var box = Box(x, points[i].Y + dy - height / 2, width, height);
                if (taken.Any(t => Overlap(t, box))) continue;
                chosen = new Placement(left ? -gap : gap, dy, left);
                taken.Add(box);
                break;
            }
            // Nowhere free within reach: the right of the point, as an unplaced label would be.
            result[i] = chosen ?? new Placement(gap, 0, false);
        }
        return result;
    }

    static IEnumerable<(double Dy, bool Left)> Candidates(double height)
    {
        for (int k = 0; k <= 12; k++)
            foreach (double sign in k == 0 ? new[] { 1.0 } : new[] { -1.0, 1.0 })
                foreach (bool left in new[] { false, true })
                    yield return (sign * k * height, left);
    }

    static (double X0, double Y0, double X1, double Y1) Box(double x, double y, double width, double height) => (x, y, x + width, y + height);

    static bool Overlap((double X0, double Y0, double X1, double Y1) a, (double X0, double Y0, double X1, double Y1) b) =>
        a.X0 < b.X1 && b.X0 < a.X1 && a.Y0 < b.Y1 && b.Y0 < a.Y1;
}
