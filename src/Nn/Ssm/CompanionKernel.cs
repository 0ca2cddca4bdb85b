namespace Engine.Nn;

/// <summary>
/// The companion matrices of SpaceTime (Zhang, Saab, Poli, Dao, Goel, Ré 2023, section 3.1) and their convolution
/// kernels, batched over H independent kernels. A = S + a e_dᵀ, S the down-shift (ones on the sub-diagonal), a ∈ R^d
/// its last column; K_l = cᵀ A^l b for l = 0..L-1. Two differentiable ways to the kernel: <see cref="Krylov"/> (powers
/// by doubling, log2 L batched matrix products, the reference) and <see cref="Woodbury"/> (O((d + L) log(d + L)) per
/// kernel: shift plus rank one, evaluated at the roots of unity).
/// <code>var k = CompanionKernel.Woodbury(a, b, c, length: 128); // a, b, c [H, d] -> K [H, 128]</code>
/// </summary>
public static class CompanionKernel
{
    /// <summary>The companion matrices A = S + a e_dᵀ, [H, d, d], from their last columns <paramref name="a"/> [H, d].</summary>
    public static Tensor Matrix(Tensor a)
    {
        RequireKernels("CompanionKernel.Matrix", a);
        int d = a.Size(-1);
        var eD = UnitVector(d, d - 1, a.DType).Unsqueeze(0);                 // [1, d]
        return Shift(d, a.DType) + a.Unsqueeze(-1) * eD;
    }

    /// <summary>
    /// a / ||a||_1 per kernel, a kept as it is where its L1 norm is below <paramref name="eps"/> (the reference's
    /// <c>norm_a_order = 1</c>, which bounds the spectral radius of A by 1 and keeps the powers from growing).
    /// </summary>
    public static Tensor NormalizeL1(Tensor a, double eps = 1e-4)
    {
        var norm = a.Abs().Sum(-1, keepDim: true);
        return a / Tensor.Where(norm.Gt(eps), norm, norm.OnesLike());
    }

    /// <summary>
    /// The Krylov sequence v, M v, M² v, ..., M^{L-1} v of each kernel: <paramref name="matrix"/> [H, d, d] and
    /// <paramref name="vectors"/> [H, d, m] (m vectors per kernel) give [H, L, d, m]. Computed by doubling (powers 0..2n-1
    /// are powers 0..n-1 and M^n times them), so the graph holds log2 L batched products.
    /// </summary>
    public static Tensor Krylov(Tensor matrix, Tensor vectors, int length)
    {
        if (matrix.Rank != 3 || matrix.Size(1) != matrix.Size(2))
            throw new ArgumentException($"CompanionKernel.Krylov: expects matrices [H, d, d], got {Shapes.Format(matrix.Shape)}");
        if (vectors.Rank != 3 || vectors.Size(0) != matrix.Size(0) || vectors.Size(1) != matrix.Size(1))
            throw new ArgumentException($"CompanionKernel.Krylov: vectors {Shapes.Format(vectors.Shape)} do not match matrices {Shapes.Format(matrix.Shape)} (expects [H, d, m])");
        if (length < 1) throw new ArgumentException($"CompanionKernel.Krylov: length must be at least 1, got {length}");
        // The m vectors of each power sit side by side as columns, power-major: one [H, d, d] @ [H, d, n m] product
        // per doubling (no broadcast over the powers).
        int d = matrix.Size(1), m = vectors.Size(2);
        var states = vectors;
        var power = matrix;
        int have = 1;
        while (have < length)
        {
            states = Tensor.Concat([states, power.MatMul(states)], -1);
            have *= 2;
            if (have < length) power = power.MatMul(power);
        }
        return states.Narrow(-1, 0, length * m).Reshape(matrix.Size(0), d, length, m).Permute(0, 2, 1, 3);
    }

    /// <summary>K_l = cᵀ A^l b, [H, L], through the Krylov sequence of (A, b): the reference for <see cref="Woodbury"/>.</summary>
    public static Tensor KrylovKernel(Tensor a, Tensor b, Tensor c, int length)
    {
        RequireTriple("CompanionKernel.KrylovKernel", a, b, c, length);
        var krylov = Krylov(Matrix(a), b.Unsqueeze(-1), length).Squeeze(-1); // [H, L, d]
        return (krylov * c.Unsqueeze(1)).Sum(-1);
    }

    /// <summary>
    /// K_l = cᵀ A^l b, [H, L], in O((d + L) log(d + L)) per kernel (SpaceTime, appendix on the companion kernel; spec
    /// structure-and-optimizers §5.1). On the L-th roots of unity z, Σ_l K_l z^l = c̃ᵀ (I - zA)^{-1} b with
    /// c̃ = c - (A^L)ᵀ c; (I - zS)^{-1} = Σ_j z^j S^j turns u ᵀ(I - zS)^{-1} v into the polynomial Q(u, v) of the
    /// cross-correlations of u and v, and Sherman–Morrison for the rank-one a e_dᵀ gives
    /// K̂(z) = Q(c̃, b) + Q(c̃, a) Q(e_d, b) / (z^{-1} - Q(e_d, a)); K = irfft(K̂).
    /// The sums are taken on the circle |z| = 2^(-1/L) rather than the unit circle, so an eigenvalue of A on the unit
    /// circle (an L1-normalised a with entries of one sign has the eigenvalue 1) does not make the quotient 0/0.
    /// </summary>
    public static Tensor Woodbury(Tensor a, Tensor b, Tensor c, int length)
    {
        RequireTriple("CompanionKernel.Woodbury", a, b, c, length);
        int d = a.Size(-1);
        // Evaluate on the circle of radius rho = 2^(-1/L) instead of the unit circle: an L1-normalised a has every
        // eigenvalue in the closed unit disc, and one exactly at 1 whenever its entries share a sign (Σ a_i = 1), where
        // the unit-circle formula is 0/0. On this circle the terms are rho^l K_l, so K_l = (result)_l / rho^l, and
        // z^L = rho^L = 1/2 turns c̃ into c - (A^L)ᵀ c / 2. The rescaling amplifies rounding by at most 2.
        double rho = Math.Pow(2, -1.0 / length);
        var cTilde = c - c.Unsqueeze(-2).MatMul(MatrixPower(Matrix(a), length)).Squeeze(-2) * 0.5;
        var eD = UnitVector(d, d - 1, a.DType).Expand(a.Shape);
        // The four forms at once: rows (c̃, e_d) against columns (b, a), [H, 2, 2, L/2 + 1].
        var left = Tensor.Stack([cTilde, eD], 1).Unsqueeze(2);               // [H, 2, 1, d]
        var right = Tensor.Stack([b, a], 1).Unsqueeze(1);                    // [H, 1, 2, d]
        var q = ComplexTensor.FromPairs(FoldedCrossCorrelation(left, right, length, rho).Rfft(length));
        var qcb = Pick(q, 0, 0);
        var qca = Pick(q, 0, 1);
        var qeb = Pick(q, 1, 0);
        var qea = Pick(q, 1, 1);
        // z^{-1} = rho^{-1} exp(+2 pi i k / L): rfft evaluates at exp(-2 pi i k / L).
        var angles = Tensor.Arange(0, length / 2 + 1, dtype: a.DType) * (2 * Math.PI / length);
        var zInverse = new ComplexTensor(angles.Cos() / rho, angles.Sin() / rho);
        var spectrum = qcb + qca * qeb / (zInverse - qea);
        return spectrum.ToPairs().Irfft(length) * Powers(1 / rho, length, a.DType);
    }

    static Tensor Powers(double x, int count, DType dtype) =>
        Tensor.FromArray(Enumerable.Range(0, count).Select(l => Math.Pow(x, l)).ToArray(), [count]).To(dtype);

    // r_j = Σ_i u_{i+j} v_i for j = 0..d-1, the coefficients of uᵀ(I - zS)^{-1} v, times rho^j (the circle's radius),
    // folded modulo ω^L = 1 (summed over j ≡ j' mod L) into [.., L]. The cross-correlation is the causal convolution of
    // the reversed u with v, reversed.
    static Tensor FoldedCrossCorrelation(Tensor u, Tensor v, int length, double rho)
    {
        int d = u.Size(-1);
        var r = u.Flip(-1).CausalConvolution(v).Flip(-1) * Powers(rho, d, u.DType);
        if (d <= length) return r;                                           // Rfft(length) zero-pads to L
        int blocks = (d + length - 1) / length;
        var padded = r.Pad([0, blocks * length - d]);
        var shape = padded.Shape;
        return padded.Reshape([.. shape[..^1], blocks, length]).Sum(-2);
    }

    static ComplexTensor Pick(ComplexTensor q, int row, int column) =>
        new(q.Re.Select(1, row).Select(1, column), q.Im.Select(1, row).Select(1, column));

    // M^n by repeated squaring, ceil(log2 n) + popcount(n) batched products.
    static Tensor MatrixPower(Tensor matrix, int n)
    {
        Tensor? result = null;
        var basis = matrix;
        while (n > 0)
        {
            if ((n & 1) == 1) result = result is null ? basis : result.MatMul(basis);
            n >>= 1;
            if (n > 0) basis = basis.MatMul(basis);
        }
        return result!;
    }

    // S, ones on the sub-diagonal: S e_i = e_{i+1}.
    static Tensor Shift(int d, DType dtype)
    {
        var mask = new double[d * d];
        for (int i = 1; i < d; i++) mask[i * d + i - 1] = 1;
        return Tensor.FromArray(mask, [d, d]).To(dtype);
    }

    internal static Tensor UnitVector(int d, int index, DType dtype)
    {
        var e = new double[d];
        e[index] = 1;
        return Tensor.FromArray(e, [d]).To(dtype);
    }

    static void RequireKernels(string op, Tensor a)
    {
        if (a.Rank != 2 || a.Size(1) < 1)
            throw new ArgumentException($"{op}: expects last columns a [H, d] with d >= 1, got {Shapes.Format(a.Shape)}");
    }

    static void RequireTriple(string op, Tensor a, Tensor b, Tensor c, int length)
    {
        RequireKernels(op, a);
        if (!b.Shape.SequenceEqual(a.Shape) || !c.Shape.SequenceEqual(a.Shape))
            throw new ArgumentException($"{op}: a, b and c must share the shape [H, d], got {Shapes.Format(a.Shape)}, {Shapes.Format(b.Shape)}, {Shapes.Format(c.Shape)}");
        if (length < 1) throw new ArgumentException($"{op}: kernel length must be at least 1, got {length}");
    }
}
