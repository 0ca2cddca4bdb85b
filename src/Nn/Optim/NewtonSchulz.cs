namespace Engine.Nn;

/// <summary>
/// The quintic Newton–Schulz iteration that Muon and Scion use to orthogonalise an update (structure-and-optimizers.md
/// §3.1 "NS5"; levanter <c>muon.py::zeropower_via_newtonschulz5</c>, after KellerJordan/modded-nanogpt):
/// <c>X = G/(‖G‖_F+ε)</c>, transposed to have no more rows than columns, then <paramref name="steps"/> times
/// <c>A = XXᵀ; X ← aX + (bA + cA²)X</c> with <c>(a, b, c) = (3.4445, −4.7750, 2.0315)</c>. It is not the exact polar
/// factor <c>UVᵀ</c>: the coefficients trade accuracy for speed, mapping normalised singular values in [0.01, 1]
/// into about [0.68, 1.14] while keeping the singular vectors.
/// </summary>
public static class NewtonSchulz
{
    public const double A = 3.4445, B = -4.7750, C = 2.0315;

    /// <summary>The approximate orthogonalisation of the matrix <paramref name="g"/>, in its dtype and on its device.</summary>
    public static Tensor Orthogonalize(Tensor g, int steps = 5, double eps = 1e-7)
    {
        if (g.Rank != 2) throw new ArgumentException($"NewtonSchulz.Orthogonalize: expects a matrix, got a tensor of shape {Shapes.Format(g.Shape)}");
        if (steps < 0) throw new ArgumentException($"NewtonSchulz.Orthogonalize: steps must be >= 0, got {steps}");
        var x = g / (g.To(DType.Float64).Square().Sum().Item() is var s ? Math.Sqrt(s) + eps : 0);
        bool transpose = g.Shape[0] > g.Shape[1];
        if (transpose) x = x.T;
        for (int i = 0; i < steps; i++)
        {
            var a = x.MatMul(x.T);
            x = x * A + (a * B + a.MatMul(a) * C).MatMul(x);
        }
        return transpose ? x.T.Contiguous() : x;
    }
}
