using Engine.Recording;

namespace Engine.Autograd;

/// <summary>
/// Signature of a derivative rule: given the op's record, its output and the gradient of that output, return one
/// gradient per input (null where an input gets none, e.g. a condition or an index).
/// </summary>
public delegate Tensor?[] DerivativeRule(OpRecord record, Tensor output, Tensor grad);

/// <summary>
/// The one place that maps each recorded op kind to its derivative rule. Rules are grouped by op family in
/// the files beside this one; a test enumerates <see cref="OpKind"/> and fails for any kind without a rule.
/// </summary>
public static class DerivativeRules
{
    static readonly Dictionary<OpKind, DerivativeRule> Rules = new();

    static DerivativeRules()
    {
        ElementwiseRules.Register(Rules);
        MovementRules.Register(Rules);
        ReductionRules.Register(Rules);
        NormalizationRules.Register(Rules);
        MatMulRules.Register(Rules);
        IndexingRules.Register(Rules);
        SpectralRules.Register(Rules);
        ConvolutionRules.Register(Rules);
        VandermondeRules.Register(Rules);
        AttentionRules.Register(Rules);
        Rules[OpKind.Custom] = (r, y, g) => ((ICustomBackward)r.Attributes.Payload!).Backward(g);
    }

    /// <summary>The op kinds that have a derivative rule.</summary>
    public static IReadOnlyCollection<OpKind> Covered => Rules.Keys;

    /// <summary>Runs the rule of the op that produced <paramref name="output"/>.</summary>
    public static Tensor?[] Apply(OpRecord record, Tensor output, Tensor grad)
    {
        if (!Rules.TryGetValue(record.Kind, out var rule))
            throw new InvalidOperationException($"Backward: {record.Name} has no derivative rule");
        var grads = rule(record, output, grad);
        if (grads.Length != record.Inputs.Length)
            throw new InvalidOperationException($"Backward: the rule of {record.Name} returned {grads.Length} gradients for {record.Inputs.Length} inputs");
        for (int i = 0; i < grads.Length; i++)
        {
            if (grads[i] is not { } gi) continue;
            var want = record.Inputs[i].Shape;
            if (!gi.Shape.SequenceEqual(want))
                throw new InvalidOperationException($"Backward: the rule of {record.Name} gave input {i} a gradient of shape {Shapes.Format(gi.Shape)}, expected {Shapes.Format(want)}");
        }
        return grads;
    }

    /// <summary>Sums a broadcast gradient back down to the shape of the input that was broadcast.</summary>
    public static Tensor SumToShape(Tensor grad, int[] shape)
    {
        int lead = grad.Rank - shape.Length;
        var axes = new List<int>();
        for (int i = 0; i < grad.Rank; i++)
            if (i < lead || (shape[i - lead] == 1 && grad.Shape[i] != 1)) axes.Add(i);
        if (axes.Count == 0) return grad;
        return grad.Sum(axes.ToArray(), keepDim: true).Reshape(shape);
    }
}
