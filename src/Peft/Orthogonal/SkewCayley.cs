using Engine.Peft.Subspace;

namespace Engine.Peft.Orthogonal;

/// <summary>
/// The batched skew-symmetric and Cayley machinery of PEFT's orthogonal methods (OFT, BOFT; written once for them and
/// for any other rotation method), on a batch of blocks Q [n, b, b]:
/// <list type="bullet">
/// <item>skew matrices from PEFT's vector layout (OFT's <c>oft_R.weight</c> [n, b(b-1)/2]: the strict upper triangle
/// in <c>torch.triu_indices(b, b, 1)</c> order, row-major; Q = U - Uᵀ) and back; or from a full matrix, ½(R - Rᵀ) (BOFT);</item>
/// <item>the exact Cayley transform R = (I - Q)(I + Q)⁻¹, orthogonal for every skew Q (through the differentiable
/// batched inverse), and PEFT's Cayley–Neumann series I + 2Q + 2Q² + … + 2Q^(t-2) + Q^(t-1) (only nearly orthogonal);</item>
/// <item>COFT's projection of each Q into the Frobenius ball of radius eps;</item>
/// <item>block rotations of activations or weight rows, x_i ← x_i R_i, without forming the block-diagonal matrix.</item>
/// </list>
/// Sources: PEFT's <c>oft/layer.py</c> (<c>OFTRotationModule</c>) and <c>boft/layer.py</c> (<c>cayley_batch</c>), at 5d602fd;
/// spec section B. Qiu et al. 2023 (OFT), Liu et al. 2024 (BOFT).
/// </summary>
public static class SkewCayley
{
    /// <summary>The number of entries of a skew b x b block's strict upper triangle, b(b-1)/2.</summary>
    public static int UpperCount(int b) => b * (b - 1) / 2;

    /// <summary>
    /// Q [n, b, b] from <paramref name="upper"/> [n, b(b-1)/2]: entry (i, j &gt; i) of block k is the next value of row
    /// k in row-major order (torch.triu_indices(b, b, 1)), and Q = U - Uᵀ.
    /// </summary>
    /// <exception cref="ArgumentException">The vector length is not b(b-1)/2.</exception>
    public static Tensor SkewFromUpper(Tensor upper, int b)
    {
        if (upper.Rank != 2 || upper.Size(1) != UpperCount(b))
            throw new ArgumentException($"SkewCayley: expects vectors [n, {UpperCount(b)}] for blocks of {b}, got {Shapes.Format(upper.Shape)}");
        int n = upper.Size(0);
        // Entry (i, j > i) reads upper[k] for the k-th such pair; every other entry reads the zero put in front.
        var map = new long[b * b];
        for (int i = 0, k = 1; i < b; i++)
            for (int j = i + 1; j < b; j++) map[i * b + j] = k++;
        var padded = Tensor.Concat([Tensor.Zeros([n, 1], upper.DType, upper.Device), upper], 1);
        var u = padded.IndexSelect(1, Tensor.FromArray(map).To(upper.Device)).Reshape(n, b, b);
        return u - u.MT;
    }

    /// <summary>The strict upper triangles [n, b(b-1)/2] of <paramref name="skew"/> [n, b, b] in PEFT's order (the inverse of <see cref="SkewFromUpper"/>).</summary>
    public static Tensor UpperOf(Tensor skew)
    {
        int n = skew.Size(0), b = skew.Size(-1);
        var index = new long[UpperCount(b)];
        for (int i = 0, k = 0; i < b; i++)
            for (int j = i + 1; j < b; j++) index[k++] = i * b + j;
        return skew.Reshape(n, b * b).IndexSelect(1, Tensor.FromArray(index).To(skew.Device));
    }

    /// <summary>The skew-symmetric part ½(M - Mᵀ) of each block of <paramref name="m"/> [..., b, b] (BOFT's <c>cayley_batch</c>).</summary>
    public static Tensor SkewPart(Tensor m) => (m - m.MT) * 0.5;

    /// <summary>
    /// The exact Cayley transform (I - Q)(I + Q)⁻¹ of each block of <paramref name="q"/> [..., b, b]: orthogonal when Q
    /// is skew. Computed as 2(I + Q)⁻¹ - I (since I - Q = 2I - (I + Q)): one inverse, no product.
    /// </summary>
    public static Tensor Cayley(Tensor q)
    {
        var eye = Tensor.Eye(q.Size(-1), dtype: q.DType).To(q.Device);
        return DifferentiableInverse.Of(eye + q) * 2 - eye;
    }

    /// <summary>
    /// PEFT's truncated Cayley–Neumann series with <paramref name="terms"/> terms: I, then + 2Q (t &gt; 1), + 2Q² (t &gt; 2),
    /// + 2Q^k for k = 3 .. t-2, and last + Q^(t-1) with coefficient 1 (so t = 3 and t = 4 both give I + 2Q + 2Q² + Q³).
    /// </summary>
    public static Tensor CayleyNeumann(Tensor q, int terms)
    {
        var r = Tensor.Eye(q.Size(-1), dtype: q.DType).To(q.Device).Expand(q.Shape);
        if (terms > 1) r = r + q * 2;
        if (terms > 2)
        {
            var power = q % q;
            r = r + power * 2;
            for (int k = 3; k < terms - 1; k++)
            {
                power = power % q;
                r = r + power * 2;
            }
            r = r + power % q;
        }
        return r;
    }

    /// <summary>The rotation of each skew block: exact Cayley, or the Neumann series with <paramref name="terms"/> terms.</summary>
    public static Tensor Rotation(Tensor q, bool neumann, int terms) => neumann ? CayleyNeumann(q, terms) : Cayley(q);

    /// <summary>
    /// COFT's projection (PEFT's <c>_project_batch</c>): each row of <paramref name="upper"/> [n, b(b-1)/2] whose skew
    /// block has ‖Q‖_F &gt; <paramref name="radius"/> is rescaled onto that radius; the others are unchanged. Outside autograd.
    /// </summary>
    public static Tensor ProjectToBall(Tensor upper, int b, double radius)
    {
        using var _ = Autograd.Autograd.NoGrad();
        // ‖Q‖_F of a skew block counts every entry twice: √2 ‖row‖.
        var norm = (upper.Square().Sum(1, keepDim: true) * 2).Sqrt();
        var scaled = upper * (norm.Reciprocal() * radius);
        return Tensor.Where(norm.Le(radius), upper, scaled);
    }

    /// <summary>
    /// x_i R_i for each block i of the last dimension of <paramref name="x"/> [..., n·b], with R [n, b, b] (or [1, b, b],
    /// one block shared by all): x times blockdiag(R_i). Pass Rᵀ (<c>r.MT</c>) for x times blockdiag(R_i)ᵀ.
    /// </summary>
    public static Tensor RotateBlocks(Tensor x, Tensor r)
    {
        int b = r.Size(-1), width = x.Size(-1), n = width / b;
        var shape = x.Shape;
        var blocks = x.Reshape(-1, n, b).Transpose(0, 1);   // [n, N, b]
        return (blocks % r).Transpose(0, 1).Reshape(shape);
    }

    /// <summary>The inverse of each block of <paramref name="r"/> [n, b, b], outside autograd (unmerging a rotation that is not exactly orthogonal).</summary>
    public static Tensor InverseBlocks(Tensor r)
    {
        using var _ = Autograd.Autograd.NoGrad();
        return Linalg.Inverse(r.Detach()).To(r.DType).To(r.Device);
    }
}
