namespace Engine.Peft.Subspace;

/// <summary>
/// PSOFT's r x r transform R' = diag(b) R diag(a) (PEFT's <c>psoft.OrthLayer</c>, saved as <c>psoft_R.weight</c>,
/// <c>psoft_R.vector_b</c>, <c>psoft_R.vector_a</c>). With <c>psoft_orth</c>, <c>weight</c> holds the r(r-1)/2 entries
/// above the diagonal (row-major, torch.triu_indices) of Q, skew-symmetric, and R is its Cayley transform
/// R = (I + Q)(I - Q)^-1, orthogonal for every Q (PSOFT's sign, the opposite of OFT's); with Cayley-Neumann, the
/// truncated series I + 2Q + 2Q² + ... + Q^(t-1) of PEFT's loop (after rescaling Q to ‖Q‖_F ≤ eps when eps is set).
/// Without <c>psoft_orth</c>, <c>weight</c> is R [r, r] itself. b and a are optional magnitudes (both on by default).
/// </summary>
public sealed class PsoftRotation : Module
{
    readonly int _size;
    readonly bool _orth, _neumann;
    readonly int _terms;
    readonly double? _eps;

    /// <summary>A transform of size <paramref name="size"/> at PEFT's identity init (Q = 0 or R = I, a = b = 1).</summary>
    public PsoftRotation(int size, bool orth, bool magB, bool magA, bool cayleyNeumann, int terms, double? eps)
    {
        (_size, _orth, _neumann, _terms, _eps) = (size, orth, cayleyNeumann, terms, eps);
        RegisterParameter("weight", orth ? Tensor.Zeros([size * (size - 1) / 2], DType.Float32) : Tensor.Eye(size));
        if (magB) RegisterParameter("vector_b", Tensor.Ones([size], DType.Float32));
        if (magA) RegisterParameter("vector_a", Tensor.Ones([size], DType.Float32));
    }

    /// <summary>The generator Q (orth) or R (not orth): the trained tensor.</summary>
    public Tensor Weight => GetParameter("weight");

    /// <summary>b [r], the output-side magnitude, or null without <c>psoft_mag_b</c>.</summary>
    public Tensor? VectorB => FindParameter("vector_b");

    /// <summary>a [r], the input-side magnitude, or null without <c>psoft_mag_a</c>.</summary>
    public Tensor? VectorA => FindParameter("vector_a");

    /// <summary>R before the magnitudes: orthogonal for the exact Cayley transform.</summary>
    public Tensor Rotation()
    {
        var w = Weight;
        if (!_orth) return w;
        var q = SkewSymmetric(w, _size);
        var eye = Tensor.Eye(_size, dtype: w.DType).To(w.Device);
        if (!_neumann) return (eye + q) % DifferentiableInverse.Of(eye - q);
        if (_eps is { } eps)
        {
            // PEFT's _project_Q: Q scaled into the Frobenius ball of radius eps (the norm is part of the graph).
            var norm = q.Square().Sum().Sqrt();
            double n = norm.Item();
            if (double.IsFinite(n) && n > eps) q = q * (eps / (norm + 1e-12));
        }
        // PEFT's loop, shared with OFT: I, + 2Q (t > 1), + 2Q² (t > 2), + 2Q^k for k = 3 .. t-2, then + Q^(t-1).
        return Orthogonal.SkewCayley.CayleyNeumann(q, _terms);
    }

    /// <summary>R' = diag(b) R diag(a) [r, r].</summary>
    public Tensor Matrix()
    {
        var r = Rotation();
        if (VectorB is { } b) r = b.Unsqueeze(1) * r;
        if (VectorA is { } a) r = r * a.Unsqueeze(0);
        return r;
    }

    /// <summary>Q [n, n] with the row-major strict upper triangle from <paramref name="upper"/> [n(n-1)/2], minus its transpose.</summary>
    public static Tensor SkewSymmetric(Tensor upper, int n)
    {
        // Entry (i, j > i) is upper[k] for the k-th (i, j) in row-major order; every other entry reads the zero in front.
        var map = new long[n * n];
        for (int i = 0, k = 1; i < n; i++)
            for (int j = i + 1; j < n; j++) map[i * n + j] = k++;
        var padded = Tensor.Concat([Tensor.Zeros([1], upper.DType, upper.Device), upper]);
        var u = padded.IndexSelect(0, Tensor.FromArray(map).To(upper.Device)).Reshape(n, n);
        return u - u.T;
    }
}
