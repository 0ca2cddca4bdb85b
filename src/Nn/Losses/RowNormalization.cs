namespace Engine.Nn;

/// <summary>L2 normalisation of the rows of a [N, C] batch, as the contrastive losses use it.</summary>
public static class RowNormalization
{
    /// <summary>x / sqrt(Σ_c x² + 1e-12) per row: unit rows, and a zero row stays zero with a finite gradient.</summary>
    public static Tensor L2(Tensor x) => x / (x.Square().Sum(-1, keepDim: true) + 1e-12).Sqrt();
}
