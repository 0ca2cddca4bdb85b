namespace Engine.Peft.IntrinsicDim;

/// <summary>
/// Fastfood P (the reference's <c>tf_fastfood_transform</c>): θ^(d) zero-padded to L = 2^⌈log2 D⌉, then
/// z = H (G ⊙ Π(H (B ⊙ θ))) with H the unnormalised Walsh–Hadamard transform (<see cref="Tensor.Fwht"/>), B ±1,
/// Π a permutation (z'[i] = z[Π[i]], the reference's gather) and G ~ N(0, 1); the output is z[:D] / (√(L ΣG²) √(D/L)),
/// so that every column has length ≈ 1. Draws, in order: L uniforms for B (u &lt; 0.5 gives -1), L uniforms whose
/// ascending order is Π, L normals for G.
/// </summary>
public sealed class FastfoodProjection : SubspaceProjection
{
    /// <summary>Draws B, Π and G.</summary>
    public FastfoodProjection(IReadOnlyList<long> sizes, int dimension, ulong seed, DType dtype) : base(sizes, dimension)
    {
        Length = (int)Math.Max(1, 1L << (int)Math.Ceiling(Math.Log2(Coordinates)));
        while (Length < Coordinates) Length *= 2; // rounding of Log2 near powers of two
        var generator = new Generator(seed);
        var b = Tensor.Rand([Length], 0, 1, DType.Float64, generator).ToArray<double>().Select(u => u < 0.5 ? -1.0 : 1.0).ToArray();
        var keys = Tensor.Rand([Length], 0, 1, DType.Float64, generator).ToArray<double>();
        var order = Enumerable.Range(0, Length).Select(i => (long)i).ToArray();
        Array.Sort(keys, order);
        var g = Tensor.Randn([Length], 0, 1, DType.Float64, generator).ToArray<double>();
        Divisor = Math.Sqrt(Length * g.Sum(v => v * v)) * Math.Sqrt((double)Coordinates / Length);
        Signs = Tensor.FromArray(b).To(dtype);
        Permutation = Tensor.FromArray(order);
        Gaussian = Tensor.FromArray(g).To(dtype);
    }

    /// <summary>L = 2^⌈log2 D⌉.</summary>
    public int Length { get; }

    /// <summary>B [L], ±1.</summary>
    public Tensor Signs { get; }

    /// <summary>Π [L] (Int64).</summary>
    public Tensor Permutation { get; }

    /// <summary>G [L].</summary>
    public Tensor Gaussian { get; }

    /// <summary>√(L ΣG²) √(D/L).</summary>
    public double Divisor { get; }

    /// <inheritdoc/>
    public override Tensor Apply(Tensor theta)
    {
        var t = On(theta.Device, [Signs, Permutation, Gaussian]);
        var padded = Dimension < Length ? theta.Pad([0, Length - Dimension]) : theta;
        var mixed = (padded * t[0].To(theta.DType)).Fwht().IndexSelect(0, t[1]) * t[2].To(theta.DType);
        return mixed.Fwht().Narrow(0, 0, (int)Coordinates) / Divisor;
    }
}
