namespace Engine.Recording;

/// <summary>
/// Every primitive op that <c>Engine.Tensor</c> records when an input requires grad. Composite ops (Mean, Var,
/// LogSumExp, Norm, Outer, Roll, Tril, ...) are built from these and need no record of their own.
/// <c>Engine.Autograd</c> holds exactly one derivative rule per differentiable kind.
/// </summary>
public enum OpKind
{
    // Elementwise, two same-shape inputs (broadcasting is recorded separately as Expand).
    Add, Sub, Mul, Div, Pow, Maximum, Minimum,
    // Elementwise, one input.
    Neg, Abs, Exp, Log, Log1p, Sqrt, Rsqrt, Sin, Cos, Tanh, Sigmoid, Relu, GeluErf, GeluTanh, Silu, Softplus,
    Clamp, Square, Reciprocal, Erf,
    /// <summary>Inputs: condition, a, b (same shape).</summary>
    Where,
    /// <summary>Conversion between floating dtypes, or a move between devices (<c>Tensor.To(Device)</c>).</summary>
    Cast,
    /// <summary>A copy (Clone, Contiguous of a strided view).</summary>
    Clone,
    // Movement: views and copies that only rearrange elements.
    Reshape, Permute, Expand, Slice, Select, Flip,
    /// <summary>A tensor placed into zeros of a larger shape at a strided slice (the adjoint of Slice).</summary>
    EmbedSlice,
    Pad, Concat,
    // Reductions and scans.
    Sum, Prod, Amax, Amin, Cumsum, Softmax, LogSoftmax,
    /// <summary>Inputs: x, weight, bias; normalises the last dimension. Saved: mean and 1/std per row.</summary>
    LayerNorm,
    // Products.
    MatMul,
    /// <summary>Inputs: addend [M, N] (broadcasting recorded as Expand), a [M, K], b [K, N]; output addend + a b (torch.addmm).</summary>
    AddMatMul,
    /// <summary>Inputs: triangular A [..., n, n], B [..., n, m] (equal batch shapes); output X = A^-1 B.</summary>
    SolveTriangular,
    // Indexing.
    Gather, ScatterAdd, IndexSelect, IndexAdd,
    // Spectral.
    Rfft, Irfft,
    /// <summary>Inputs: signal [..., L], kernel [..., K] with equal leading shapes; output [..., L].</summary>
    CausalConvolution,
    /// <summary>Inputs: complex pairs c, w [..., N, 2] (equal shapes); output [..., L] (Start: L).</summary>
    VandermondeProduct,
    /// <summary>Inputs: x [..., L] with L a power of two; output the unnormalised Walsh–Hadamard transform of the last dimension.</summary>
    Fwht,
    /// <summary>
    /// Fused scaled dot-product attention. Inputs: q [B, H, T, D], k and v [B, H, T_keys, D]; output [B, T, H, D]
    /// (Start: past, Causal; Saved: the [B, T_keys] key bias of 0 / -inf when there is a padding mask).
    /// </summary>
    Attention,
    /// <summary>A user-defined op with its own backward (see Engine.Autograd.Function).</summary>
    Custom,
    /// <summary>Ops whose output has no gradient: comparisons, argmax/argmin, sign, casts to integers.</summary>
    NonDifferentiable,
}
