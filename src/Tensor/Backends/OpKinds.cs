namespace Engine.Backends;

/// <summary>Elementwise functions of one input. Parameters (clamp bounds, ...) travel beside the op.</summary>
public enum UnaryOp
{
    Neg, Abs, Sign, Exp, Log, Log1p, Sqrt, Rsqrt, Sin, Cos, Tanh, Sigmoid, Relu,
    GeluErf, GeluTanh, Silu, Softplus, Clamp, Square, Reciprocal, LogicalNot, Erf,
    // Derivatives d/dx of the activations above, used by backward passes that build no graph.
    GeluTanhDerivative, GeluErfDerivative, SiluDerivative,
}

/// <summary>Elementwise functions of two broadcast inputs of the same dtype.</summary>
public enum BinaryOp
{
    Add, Sub, Mul, Div, Pow, Maximum, Minimum, LogicalAnd, LogicalOr,
}

/// <summary>Elementwise comparisons; the result is Bool.</summary>
public enum CompareOp
{
    Eq, Ne, Lt, Le, Gt, Ge,
}

/// <summary>Reductions over a set of axes.</summary>
public enum ReduceOp
{
    Sum, Prod, Max, Min,
}

/// <summary>Distributions of the counter-based generator.</summary>
public enum RandomKind
{
    /// <summary>Uniform on [a, b).</summary>
    Uniform,
    /// <summary>Normal with mean a and standard deviation b.</summary>
    Normal,
    /// <summary>Integers uniform on [a, b).</summary>
    Integer,
    /// <summary>1 with probability a, else 0.</summary>
    Bernoulli,
}
