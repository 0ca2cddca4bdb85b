using Engine.Recording;

namespace Engine.Autograd;

/// <summary>
/// Reverse-mode differentiation in one screen. Every tensor produced by a recorded op knows its
/// <see cref="OpRecord"/> (the op and its inputs). To differentiate a result:
/// <list type="number">
/// <item>collect the recorded ops behind it in topological order (inputs before outputs),</item>
/// <item>seed the result's gradient with ones (or the gradient given),</item>
/// <item>walk the order backward: each op's derivative rule turns the gradient of its output into gradients of
/// its inputs, which are summed into whatever those inputs already received,</item>
/// <item>leaves (parameters, inputs) keep their sum in <see cref="Tensor.Grad"/>.</item>
/// </list>
/// The rules themselves live in <see cref="DerivativeRules"/>, one per op kind. They are written with ordinary
/// tensor ops, so when <c>createGraph</c> is true the backward pass is itself recorded and can be differentiated again.
/// </summary>
public static class Backprop
{
    /// <summary>
    /// Gradients of <paramref name="root"/> with respect to every tensor behind it that requires grad.
    /// Returns them by tensor; does not touch <see cref="Tensor.Grad"/>.
    /// </summary>
    internal static Dictionary<Tensor, Tensor> Run(Tensor root, Tensor? gradient, bool retainGraph, bool createGraph)
    {
        if (!root.RequiresGrad)
        {
            if (root.Producer is { Kind: OpKind.NonDifferentiable } p)
                throw new InvalidOperationException($"Backward: the tensor was produced by {p.Name}, which is not differentiable, so it has no gradient");
            throw new InvalidOperationException("Backward: the tensor does not require grad (no input of the ops that produced it has RequiresGrad = true)");
        }
        if (gradient is null)
        {
            if (root.Numel != 1)
                throw new InvalidOperationException($"Backward: an implicit gradient of ones exists only for one-element outputs; this one has shape {Shapes.Format(root.Shape)}, so pass the output gradient explicitly");
            gradient = root.OnesLike();
        }
        else if (!gradient.Shape.SequenceEqual(root.Shape))
            throw new ArgumentException($"Backward: output gradient shape {Shapes.Format(gradient.Shape)} differs from the output's {Shapes.Format(root.Shape)}");

        var order = TopologicalOrder(root);
        var grads = new Dictionary<Tensor, Tensor>(ReferenceEqualityComparer.Instance) { [root] = gradient.To(root.DType) };
        bool previous = GradMode.IsEnabled;
        GradMode.IsEnabled = createGraph;
        try
        {
            for (int i = order.Count - 1; i >= 0; i--)
            {
                var output = order[i];
                var record = output.Producer!;
                if (!grads.TryGetValue(output, out var g)) continue;
                GraphRelease.ThrowIfReleased(record);
                var inputGrads = DerivativeRules.Apply(record, output, g);
                AnomalyMode.CheckBackward(record, inputGrads);
                for (int k = 0; k < record.Inputs.Length; k++)
                {
                    var input = record.Inputs[k];
                    var ig = inputGrads[k];
                    if (ig is null || !input.RequiresGrad) continue;
                    grads[input] = grads.TryGetValue(input, out var acc) ? acc + ig : ig;
                }
                if (!retainGraph) GraphRelease.Release(record);
            }
        }
        finally
        {
            GradMode.IsEnabled = previous;
        }
        return grads;
    }

    // Depth-first post-order over recorded producers, iterative so that long chains cannot overflow the stack.
    static List<Tensor> TopologicalOrder(Tensor root)
    {
        var order = new List<Tensor>();
        var visited = new HashSet<Tensor>(ReferenceEqualityComparer.Instance);
        var stack = new Stack<(Tensor Node, int NextInput)>();
        if (root.Producer is not null && !root.IsLeaf) stack.Push((root, 0));
        visited.Add(root);
        while (stack.Count > 0)
        {
            var (node, next) = stack.Pop();
            var inputs = node.Producer!.Inputs;
            if (next < inputs.Length)
            {
                stack.Push((node, next + 1));
                var input = inputs[next];
                if (input.RequiresGrad && !input.IsLeaf && visited.Add(input)) stack.Push((input, 0));
                continue;
            }
            order.Add(node);
        }
        return order;
    }
}
