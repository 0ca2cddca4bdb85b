using System.Text;
using Engine.Recording;

namespace Engine.Autograd;

/// <summary>
/// Draws the recorded graph behind a tensor for people learning how autograd works: tensors as boxes
/// (shape, dtype, whether they require grad), ops as ellipses, edges from inputs to ops to outputs.
/// <c>File.WriteAllText("graph.dot", GraphExport.ToDot(loss));</c> then <c>dot -Tpng graph.dot</c>.
/// </summary>
public static class GraphExport
{
    /// <summary>The graph as Graphviz DOT text.</summary>
    public static string ToDot(Tensor root, IReadOnlyDictionary<Tensor, string>? names = null)
    {
        var g = Walk(root);
        var sb = new StringBuilder("digraph autograd {\n  rankdir=BT;\n  node [fontname=\"monospace\"];\n");
        foreach (var (t, id) in g.Tensors)
        {
            string fill = t.RequiresGrad ? "lightblue" : "white";
            sb.Append($"  {id} [shape=box, style=filled, fillcolor={fill}, label=\"{Label(t, names)}\"];\n");
        }
        foreach (var (op, id, output) in g.Ops)
        {
            sb.Append($"  {id} [shape=ellipse, label=\"{op.Name}\"];\n");
            foreach (var input in op.Inputs) sb.Append($"  {g.Tensors[input]} -> {id};\n");
            sb.Append($"  {id} -> {g.Tensors[output]};\n");
        }
        return sb.Append("}\n").ToString();
    }

    /// <summary>The graph as a Mermaid flowchart (renders in GitHub Markdown).</summary>
    public static string ToMermaid(Tensor root, IReadOnlyDictionary<Tensor, string>? names = null)
    {
        var g = Walk(root);
        var sb = new StringBuilder("flowchart BT\n");
        foreach (var (t, id) in g.Tensors) sb.Append($"  {id}[\"{Label(t, names)}\"]\n");
        foreach (var (op, id, output) in g.Ops)
        {
            sb.Append($"  {id}((\"{op.Name}\"))\n");
            foreach (var input in op.Inputs) sb.Append($"  {g.Tensors[input]} --> {id}\n");
            sb.Append($"  {id} --> {g.Tensors[output]}\n");
        }
        return sb.ToString();
    }

    static string Label(Tensor t, IReadOnlyDictionary<Tensor, string>? names)
    {
        string name = names is not null && names.TryGetValue(t, out var n) ? n + " " : "";
        return $"{name}{Shapes.Format(t.Shape)} {t.DType.Name()}{(t.RequiresGrad ? " requires_grad" : "")}";
    }

    sealed record Graph(Dictionary<Tensor, string> Tensors, List<(OpRecord Op, string Id, Tensor Output)> Ops);

    static Graph Walk(Tensor root)
    {
        var tensors = new Dictionary<Tensor, string>(ReferenceEqualityComparer.Instance);
        var ops = new List<(OpRecord, string, Tensor)>();
        var stack = new Stack<Tensor>();
        tensors[root] = "t0";
        stack.Push(root);
        while (stack.Count > 0)
        {
            var t = stack.Pop();
            if (t.Producer is not { } op) continue;
            ops.Add((op, $"op{ops.Count}", t));
            foreach (var input in op.Inputs)
            {
                if (tensors.ContainsKey(input)) continue;
                tensors[input] = $"t{tensors.Count}";
                stack.Push(input);
            }
        }
        return new Graph(tensors, ops);
    }
}
