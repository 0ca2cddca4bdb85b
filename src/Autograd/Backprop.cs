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
        // Sums this pass allocated itself, which no rule has seen: the only gradients safe to add into in place.
        var owned = new HashSet<Tensor>(ReferenceEqualityComparer.Instance);
        bool previous = GradMode.IsEnabled;
        GradMode.IsEnabled = createGraph;
        var observer = AnomalyMode.SuspendForward();
        try
        {
            for (int i = order.Count - 1; i >= 0; i--)
            {
                var output = order[i];
                var record = output.Producer!;
                if (!grads.TryGetValue(output, out var g)) continue;
                GraphRelease.ThrowIfReleased(record);
                if (!createGraph && AddSliceGradientInPlace(record, output, g, grads, owned))
                {
                    if (!retainGraph) GraphRelease.Release(record);
                    continue;
                }
                var inputGrads = DerivativeRules.Apply(record, output, g);
                AnomalyMode.CheckBackward(record, inputGrads);
                for (int k = 0; k < record.Inputs.Length; k++)
                {
                    var input = record.Inputs[k];
                    var ig = inputGrads[k];
                    if (ig is null || !input.RequiresGrad) continue;
                    if (grads.TryGetValue(input, out var acc))
                    {
                        grads[input] = acc + ig;
                        owned.Add(input);
                    }
                    else
                    {
                        grads[input] = ig;
                        owned.Remove(input);
                    }
                }
                if (!retainGraph) GraphRelease.Release(record);
            }
        }
        finally
        {
            GradMode.IsEnabled = previous;
            AnomalyMode.ResumeForward(observer);
        }
        return grads;
    }

    // The gradient of a slice (Slice, Select) is zeros of the whole input with the slice's gradient in its place. A
    // loop over the slices of one tensor (chunk by chunk, step by step) would build and add one such full-size tensor
    // per slice; instead the slice's gradient is added into the matching view of a sum this pass owns, so each slice
    // costs its own size. Not when the backward is recorded (createGraph): in-place writes cannot be differentiated.
    static bool AddSliceGradientInPlace(OpRecord record, Tensor output, Tensor g, Dictionary<Tensor, Tensor> grads, HashSet<Tensor> owned)
    {
        if (record.Kind is not (OpKind.Slice or OpKind.Select) || AnomalyMode.IsEnabled) return false;
        var input = record.Inputs[0];
        if (!input.RequiresGrad) return true;
        if (!owned.Contains(input))
        {
            grads[input] = grads.TryGetValue(input, out var existing) ? existing.Clone() : Tensor.Zeros(input.Shape, g.DType, g.Device);
            owned.Add(input);
        }
        if (output.Numel == 0) return true;
        var sum = grads[input];
        var a = record.Attributes;
        var slot = record.Kind == OpKind.Select
            ? sum.Select(a.Dim, a.Start)
            : sum.Slice(a.Dim, a.Start, a.Start + (output.Shape[a.Dim] - 1) * a.Step + 1, a.Step);
        slot.CopyFrom(slot + g);
        return true;
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
