using System.Text.RegularExpressions;
using Xunit;

namespace Engine.Autograd.Tests;

/// <summary>Graph export names ops, shapes and requires_grad, and links each op to its inputs and output.</summary>
public class GraphExportTests
{
    // loss = sum(tanh(x @ w) * b): MatMul, Tanh, Expand (of b), Mul, Sum, Reshape (dropping the summed axes).
    static (Tensor Loss, Tensor X, Tensor W) SmallGraph()
    {
        var x = Tensor.FromArray(new double[] { 1, 2, 3, 4, 5, 6 }, [2, 3]);
        var w = Tensor.FromArray(new double[] { 0.1, 0.2, 0.3, 0.4, 0.5, 0.6 }, [3, 2]).RequireGrad();
        var b = Tensor.FromArray(new double[] { 1, -1 }, [2]).RequireGrad();
        return ((x.MatMul(w).Tanh() * b).Sum(), x, w);
    }

    [Fact]
    public void ToDot_ShowsOpNamesShapesDTypesAndRequiresGradMarkers()
    {
        var (loss, x, w) = SmallGraph();
        var dot = GraphExport.ToDot(loss, new Dictionary<Tensor, string>(ReferenceEqualityComparer.Instance) { [w] = "w", [x] = "x" });
        Assert.StartsWith("digraph", dot);
        foreach (var op in new[] { "MatMul", "Tanh", "Mul", "Sum", "Expand" }) Assert.Contains($"label=\"{op}\"", dot);
        Assert.Contains("w [3,2] float64 requires_grad", dot);
        Assert.Contains("x [2,3] float64\"", dot); // a constant input: no requires_grad marker
        Assert.Contains("[2] float64 requires_grad", dot);
    }

    [Fact]
    public void ToDot_LinksEveryOpToEachOfItsInputsAndToItsOutput()
    {
        var (loss, _, _) = SmallGraph();
        var dot = GraphExport.ToDot(loss);
        var ops = Regex.Matches(dot, @"(op\d+) \[shape=ellipse, label=""(\w+)""\]").Select(m => (Id: m.Groups[1].Value, Name: m.Groups[2].Value)).ToList();
        Assert.NotEmpty(ops);
        var arity = new Dictionary<string, int> { ["MatMul"] = 2, ["Mul"] = 2, ["Tanh"] = 1, ["Sum"] = 1, ["Expand"] = 1, ["Reshape"] = 1 };
        foreach (var (id, name) in ops)
        {
            Assert.Equal(arity[name], Regex.Matches(dot, $@"t\d+ -> {id};").Count);
            Assert.Single(Regex.Matches(dot, $@"{id} -> t\d+;"));
        }
        Assert.Contains(dot.Split('\n'), l => l.Trim() == "op0 -> t0;"); // the root is the output of the first op found
    }

    [Fact]
    public void ToMermaid_ShowsTheSameNodesAndEdges()
    {
        var (loss, _, _) = SmallGraph();
        var mermaid = GraphExport.ToMermaid(loss);
        Assert.StartsWith("flowchart", mermaid);
        var ops = Regex.Matches(mermaid, @"(op\d+)\(\(""(\w+)""\)\)").Select(m => (Id: m.Groups[1].Value, Name: m.Groups[2].Value)).ToList();
        Assert.Contains(ops, o => o.Name == "MatMul");
        Assert.Contains("[3,2] float64 requires_grad", mermaid);
        foreach (var (id, name) in ops)
        {
            int inputs = Regex.Matches(mermaid, $@"t\d+ --> {id}\n").Count;
            Assert.Equal(name is "MatMul" or "Mul" ? 2 : 1, inputs);
            Assert.Single(Regex.Matches(mermaid, $@"{id} --> t\d+\n"));
        }
    }
}
