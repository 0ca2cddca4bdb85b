using Engine;
using Engine.Autograd;

namespace Samples.InspectInternals;

/// <summary>What the tour found, step by step.</summary>
/// <param name="Ops">The recorded ops behind the loss, from the loss back to the inputs (what Backward walks).</param>
/// <param name="Dot">The graph as Graphviz DOT (<c>dot -Tsvg graph.dot -o graph.svg</c>).</param>
/// <param name="Mermaid">The graph as a Mermaid flowchart (paste it in a ```mermaid block on GitHub).</param>
/// <param name="SilentGradient">The gradient with a point at the origin, computed without anomaly mode: NaN, and no word why.</param>
/// <param name="BackwardAnomaly">Anomaly mode's message for the same backward: the op whose rule made the first non-finite gradient.</param>
/// <param name="FixedGradient">The gradient with the built-in <c>Norm</c>, which gives 0 at the origin (PyTorch's subgradient).</param>
/// <param name="ForwardAnomaly">Anomaly mode's message for a forward pass that makes a NaN (the log of a negative number).</param>
public sealed record TourFindings(IReadOnlyList<string> Ops, string Dot, string Mermaid, double[] SilentGradient,
    string BackwardAnomaly, double[] FixedGradient, string ForwardAnomaly);

/// <summary>
/// A guided look inside autograd on a small computation: the mean distance of three points from the origin, with
/// the distance written by hand as sqrt(x² + y²). One of the points is the origin, where that formula has no gradient.
/// </summary>
public static class InternalsTour
{
    /// <summary>The points [3, 2]: (3, 4), the origin, (-1, 0). Float64, so the numbers are exact.</summary>
    public static Tensor Points() => Tensor.FromArray(new double[,] { { 3, 4 }, { 0, 0 }, { -1, 0 } });

    static Tensor MeanDistanceByHand(Tensor points) => points.Square().Sum([1]).Sqrt().Mean();

    public static TourFindings Run(TextWriter output)
    {
        // 1. Ops record themselves when an input requires grad: each result remembers the op and its inputs.
        var points = Points().RequireGrad();
        var loss = MeanDistanceByHand(points);
        var ops = new List<string>();
        for (var t = loss; t.Producer is { } op; t = op.Inputs[0])
            ops.Add($"{op.Name}({string.Join(", ", op.Inputs.Select(i => Shapes.Format(i.Shape)))}) -> {Shapes.Format(t.Shape)}");
        output.WriteLine("1. The recorded ops behind the loss, as Backward walks them (loss first):");
        foreach (var line in ops) output.WriteLine($"   {line}");

        // 2. The same graph drawn: boxes are tensors (shape, dtype, requires_grad), ellipses are ops.
        string dot = GraphExport.ToDot(loss, new Dictionary<Tensor, string> { [points] = "points", [loss] = "loss" });
        string mermaid = GraphExport.ToMermaid(loss, new Dictionary<Tensor, string> { [points] = "points", [loss] = "loss" });
        output.WriteLine();
        output.WriteLine("2. The graph as Mermaid (GraphExport.ToDot gives the same as Graphviz DOT):");
        output.WriteLine(mermaid.TrimEnd());

        // 3. Backward: the point at the origin gets NaN. d sqrt(s)/ds = 1/(2 sqrt(s)) is infinite at s = 0, and
        //    the next rule multiplies it by 2x = 0: inf * 0 = NaN. Nothing says so.
        loss.Backward();
        var silent = points.Grad!.ToDoubleArray();
        output.WriteLine();
        output.WriteLine($"3. Gradient without anomaly mode: [{string.Join(", ", silent)}]");

        // 4. Anomaly mode checks every op's output and every rule's gradient, and names the first that goes wrong.
        string backwardAnomaly = "(none)";
        var again = Points().RequireGrad();
        using (AnomalyMode.Enable())
        {
            try { MeanDistanceByHand(again).Backward(); }
            catch (ArithmeticException e) { backwardAnomaly = e.Message; }
        }
        output.WriteLine($"4. With anomaly mode: {backwardAnomaly}");

        // 5. The fix: the built-in Norm gives the origin the subgradient 0, as PyTorch does.
        var fixedPoints = Points().RequireGrad();
        fixedPoints.Norm(2, [1]).Mean().Backward();
        var fixedGradient = fixedPoints.Grad!.ToDoubleArray();
        output.WriteLine($"5. With Norm(2, [1]) instead: [{string.Join(", ", fixedGradient)}]");

        // 6. Forward NaNs are caught where they are made, with or without gradients: here the log of a negative number.
        string forwardAnomaly = "(none)";
        using (AnomalyMode.Enable())
        {
            try { _ = (Points() - 1).Log(); }
            catch (ArithmeticException e) { forwardAnomaly = e.Message; }
        }
        output.WriteLine($"6. A forward NaN under anomaly mode: {forwardAnomaly}");
        return new TourFindings(ops, dot, mermaid, silent, backwardAnomaly, fixedGradient, forwardAnomaly);
    }
}
