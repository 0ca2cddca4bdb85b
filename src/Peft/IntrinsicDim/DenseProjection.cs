namespace Engine.Peft.IntrinsicDim;

/// <summary>
/// Dense P: entries N(0, 1) drawn row-major [D, d] (counter i·d + j), each column then scaled to unit length (the
/// spec; the reference's per-layer blocks are unnormalised, the paper describes unit columns). One matrix product.
/// </summary>
public sealed class DenseProjection : SubspaceProjection
{
    /// <summary>Draws P.</summary>
    public DenseProjection(IReadOnlyList<long> sizes, int dimension, ulong seed, DType dtype) : base(sizes, dimension)
    {
        var p = Tensor.Randn([(int)Coordinates, dimension], 0, 1, DType.Float64, new Generator(seed));
        Matrix = (p / p.Norm(2, [0], keepDim: true)).To(dtype);
    }

    /// <summary>P [D, d].</summary>
    public Tensor Matrix { get; }

    /// <inheritdoc/>
    public override Tensor Apply(Tensor theta) => On(theta.Device, [Matrix])[0].To(theta.DType).MatMul(theta.Unsqueeze(-1)).Squeeze(-1);
}
