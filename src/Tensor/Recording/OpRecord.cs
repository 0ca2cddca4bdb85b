namespace Engine.Recording;

/// <summary>
/// The immutable description of the op that produced a tensor: what it was, its inputs, and whatever its
/// derivative rule needs. <c>Engine.Tensor</c> writes these; <c>Engine.Autograd</c> reads them backward.
/// </summary>
/// <param name="Kind">The primitive op.</param>
/// <param name="Inputs">Input tensors, in the op's argument order.</param>
/// <param name="Attributes">Op parameters (axes, shapes, bounds, index tensors); <see cref="OpAttributes.None"/> when there are none.</param>
public sealed record OpRecord(OpKind Kind, Tensor[] Inputs, OpAttributes Attributes)
{
    /// <summary>Name shown in graphs and errors: the op kind, or the user op's or non-differentiable op's name.</summary>
    public string Name => Attributes.Name ?? Kind.ToString();

    /// <summary>The public op this primitive ran inside (see <see cref="OpScope"/>), when an observer was set; null otherwise.</summary>
    public string? Scope { get; init; }
}

/// <summary>Parameters of a recorded op. Each op kind uses the few fields its derivative rule needs.</summary>
public sealed record OpAttributes
{
    /// <summary>No parameters.</summary>
    public static OpAttributes None { get; } = new();

    /// <summary>Reduced axes (Sum, Prod, Amax, Amin), flipped dims (Flip), permutation (Permute).</summary>
    public int[]? Axes { get; init; }

    /// <summary>A shape: the input's (Reshape, Expand, EmbedSlice target) or padding amounts (Pad) or part sizes (Concat).</summary>
    public int[]? Shape { get; init; }

    /// <summary>A dimension (Slice, Select, Cumsum, Softmax, Gather, ScatterAdd, IndexSelect, Concat).</summary>
    public int Dim { get; init; }

    /// <summary>Start of a slice (Slice, EmbedSlice, Select index), or the signal length n (Rfft, Irfft).</summary>
    public int Start { get; init; }

    /// <summary>Step of a slice.</summary>
    public int Step { get; init; } = 1;

    /// <summary>Scalar parameters (Clamp min and max).</summary>
    public double P0 { get; init; }

    /// <summary>Second scalar parameter.</summary>
    public double P1 { get; init; }

    /// <summary>SolveTriangular: whether A is upper (rather than lower) triangular.</summary>
    public bool Upper { get; init; }

    /// <summary>SolveTriangular: whether A's diagonal is taken to be ones (and not read).</summary>
    public bool Unitriangular { get; init; }

    /// <summary>Attention: whether query i (at position Start + i) sees only keys up to Start + i.</summary>
    public bool Causal { get; init; }

    /// <summary>An index tensor the rule needs (Gather, ScatterAdd, IndexSelect).</summary>
    public Tensor? Index { get; init; }

    /// <summary>By-products of the forward pass that the rule reuses (LayerNorm's mean and 1/std).</summary>
    public Tensor[]? Saved { get; init; }

    /// <summary>Display name for ops that are not identified by their kind alone (Custom, NonDifferentiable).</summary>
    public string? Name { get; init; }

    /// <summary>Payload of a user-defined op (its backward), opaque to Engine.Tensor.</summary>
    public object? Payload { get; init; }
}
