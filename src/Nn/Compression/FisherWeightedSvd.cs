namespace Engine.Nn.Compression;

/// <summary>
/// Fisher-weighted SVD (FWSVD; Hsu et al., "Language model compression with weighted low-rank factorization", ICLR 2022;
/// spec structure-and-optimizers.md §4.3): the rank-r factorisation W ≈ A B that minimises ‖Î (W − A B)‖_F with
/// Î = diag(√(I_i + 1e-5)) from the row importances I_i = Σ_j I_ij of the Fisher information. SVD Î W = U S Vᵀ;
/// A = Î⁻¹ U_r S_r [rows, r], B = V_rᵀ [r, cols]. Rows the task loss is sensitive to are approximated better than
/// plain truncated SVD would, at the price of a larger unweighted error. Computed in Float64 with the engine's SVD
/// (<see cref="Linalg.SvdTopK"/>); with equal importances it is the plain truncated SVD (Eckart–Young).
/// <code>var (a, b) = FisherWeightedSvd.Factorise(w, FisherWeightedSvd.RowImportance(fisher), 8);</code>
/// </summary>
public static class FisherWeightedSvd
{
    /// <summary>The damping added to each row importance before the square root (spec §4.3).</summary>
    public const double Epsilon = 1e-5;

    /// <summary>I_i = Σ_j I_ij: the Fisher information [rows, cols] summed over each row of the weight as stored.</summary>
    public static double[] RowImportance(Tensor fisher)
    {
        if (fisher.Rank != 2) throw new ArgumentException($"FisherWeightedSvd.RowImportance: expects the Fisher of a matrix [rows, cols], got {Shapes.Format(fisher.Shape)}");
        int rows = fisher.Size(0), cols = fisher.Size(1);
        var data = fisher.ToDoubleArray();
        var sums = new double[rows];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) sums[r] += data[r * cols + c];
        return sums;
    }

    /// <summary>I_j = Σ_i I_ij: the Fisher information summed over each column (one per input feature of a Linear [out, in]).</summary>
    public static double[] ColumnImportance(Tensor fisher)
    {
        if (fisher.Rank != 2) throw new ArgumentException($"FisherWeightedSvd.ColumnImportance: expects the Fisher of a matrix [rows, cols], got {Shapes.Format(fisher.Shape)}");
        return RowImportance(fisher.T.Contiguous());
    }

    /// <summary>
    /// The same weighting applied to columns: A, B minimising ‖(W − A B) Ĵ‖_F with Ĵ = diag(√(I_j + 1e-5)) from
    /// <see cref="ColumnImportance"/>. For a Linear [out, in] the columns are the input features, which is how the
    /// FWSVD paper's y = xW layout (W [in, out]) reads "rows"; the spec's "rows as stored" in the engine's
    /// [out, in] layout is <see cref="Factorise"/>. Computed as <see cref="Factorise"/> of Wᵀ, transposed back.
    /// </summary>
    public static (Tensor A, Tensor B) FactoriseColumns(Tensor weight, IReadOnlyList<double>? columnImportance, int rank)
    {
        if (weight.Rank != 2) throw new ArgumentException($"FisherWeightedSvd.FactoriseColumns: expects a weight [rows, cols], got {Shapes.Format(weight.Shape)}");
        var (a, b) = Factorise(weight.T.Contiguous(), columnImportance, rank);
        return (b.T.Contiguous(), a.T.Contiguous());
    }

    /// <summary>
    /// The factors A [rows, rank] and B [rank, cols] (Float64) minimising ‖Î (W − A B)‖_F; null
    /// <paramref name="rowImportance"/> means equal importances, i.e. plain truncated SVD.
    /// </summary>
    /// <exception cref="ArgumentException">The weight is not a matrix, the importances do not match its rows or are negative or not finite, or the rank is not 1..min(rows, cols).</exception>
    public static (Tensor A, Tensor B) Factorise(Tensor weight, IReadOnlyList<double>? rowImportance, int rank)
    {
        if (weight.Rank != 2) throw new ArgumentException($"FisherWeightedSvd.Factorise: expects a weight [rows, cols], got {Shapes.Format(weight.Shape)}");
        int rows = weight.Size(0), cols = weight.Size(1);
        if (rank < 1 || rank > Math.Min(rows, cols))
            throw new ArgumentException($"FisherWeightedSvd.Factorise: rank must be 1..{Math.Min(rows, cols)} for a weight {Shapes.Format(weight.Shape)}, got {rank}");
        if (rowImportance is not null && rowImportance.Count != rows)
            throw new ArgumentException($"FisherWeightedSvd.Factorise: {rowImportance.Count} row importances for a weight {Shapes.Format(weight.Shape)} with {rows} rows");
        if (rowImportance is not null && rowImportance.Any(v => !(v >= 0) || !double.IsFinite(v)))
            throw new ArgumentException("FisherWeightedSvd.Factorise: row importances must be finite and non-negative");
        var scale = new double[rows];
        for (int r = 0; r < rows; r++) scale[r] = Math.Sqrt((rowImportance?[r] ?? 1) + Epsilon);

        // Î W: each row scaled by √(I_i + ε).
        var w = weight.Detach().ToDoubleArray();
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) w[r * cols + c] *= scale[r];
        var (u, s, vh) = Linalg.SvdTopK(Tensor.FromArray(w, [rows, cols]), rank);
        double[] uData = u.ToDoubleArray(), sv = s.ToDoubleArray();

        // A = Î⁻¹ U_r S_r.
        var a = new double[rows * rank];
        for (int r = 0; r < rows; r++)
            for (int j = 0; j < rank; j++) a[r * rank + j] = uData[r * rank + j] * sv[j] / scale[r];
        return (Tensor.FromArray(a, [rows, rank]), vh);
    }
}
