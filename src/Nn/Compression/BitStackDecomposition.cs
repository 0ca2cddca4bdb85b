namespace Engine.Nn.Compression;

/// <summary>
/// BitStack's iterative sign × low-rank residual decomposition of one weight (Wang et al., ICLR 2025; spec
/// adapters-other.md §17; reference xinghaow99/BitStack <c>bitstack/modules/BitStackLinear.py</c>, <c>decompose_weight</c>):
/// R_0 = W; for i = 1..n: S_i = sign(R_{i−1}) with 0 → +1; |R_{i−1}| = U Σ Vᵀ; u_i = U_k √Σ_k, v_iᵀ = √Σ_k V_kᵀ;
/// Ŵ_i = S_i ⊙ (u_i v_iᵀ); R_i = R_{i−1} − Ŵ_i. The sign carries one bit per weight and the non-negative magnitude
/// |R| is close to low rank, which is why a small k suffices.
/// <para>
/// As in the reference, the residual is updated with the exact factors (here Float64; the reference uses Float32)
/// and the stored u_i, v_iᵀ are those factors rounded to fp16; so a reconstruction from the stored blocks differs from
/// W − R_n by the fp16 rounding only. The SVD is the engine's (<see cref="Linalg.SvdTopK"/>).
/// </para>
/// <code>var w = BitStackDecomposition.Decompose("fc.weight", linear.Weight, blocks: 16, rank: 2); var approx = w.Reconstruct(4);</code>
/// </summary>
public static class BitStackDecomposition
{
    /// <summary>
    /// Decomposes <paramref name="weight"/> [rows, cols] into <paramref name="blocks"/> blocks of rank
    /// min(<paramref name="rank"/>, rows, cols).
    /// </summary>
    /// <exception cref="ArgumentException">The weight is not a finite matrix, or blocks or rank is below 1.</exception>
    public static BitStackWeight Decompose(string name, Tensor weight, int blocks, int rank)
    {
        if (weight.Rank != 2)
            throw new ArgumentException($"BitStackDecomposition: '{name}' must be a matrix [out, in], got {Shapes.Format(weight.Shape)}");
        if (blocks < 1) throw new ArgumentException($"BitStackDecomposition: '{name}': blocks must be at least 1, got {blocks}");
        if (rank < 1) throw new ArgumentException($"BitStackDecomposition: '{name}': rank must be at least 1, got {rank}");
        int rows = weight.Size(0), cols = weight.Size(1), k = Math.Min(rank, Math.Min(rows, cols));
        var residual = weight.Detach().ToDoubleArray();
        if (residual.Any(v => !double.IsFinite(v)))
            throw new ArgumentException($"BitStackDecomposition: '{name}' {Shapes.Format(weight.Shape)} holds a NaN or infinite value");

        var list = new List<BitStackBlock>(blocks);
        var norms = new List<double> { Norm(residual) };
        for (int i = 0; i < blocks; i++)
        {
            var signs = SignBits.Pack(residual);
            var magnitude = Tensor.FromArray(Array.ConvertAll(residual, Math.Abs), [rows, cols]);
            var (uk, sk, vhk) = Linalg.SvdTopK(magnitude, k);
            double[] uData = uk.ToDoubleArray(), s = sk.ToDoubleArray(), vhData = vhk.ToDoubleArray();
            // u_i = U_k √Σ_k and v_iᵀ = √Σ_k V_kᵀ: the singular values split evenly between the two factors.
            var u = new double[rows * k];
            var vt = new double[k * cols];
            for (int j = 0; j < k; j++)
            {
                double root = Math.Sqrt(s[j]);
                for (int r = 0; r < rows; r++) u[r * k + j] = uData[r * k + j] * root;
                for (int c = 0; c < cols; c++) vt[j * cols + c] = vhData[j * cols + c] * root;
            }
            // R_i = R_{i−1} − S_i ⊙ (u_i v_iᵀ) with the exact factors (sign(0) = +1, as packed).
            for (int r = 0; r < rows; r++)
                for (int c = 0; c < cols; c++)
                {
                    double m = 0;
                    for (int j = 0; j < k; j++) m += u[r * k + j] * vt[j * cols + c];
                    ref double v = ref residual[r * cols + c];
                    v -= v >= 0 ? m : -m;
                }
            list.Add(new BitStackBlock(rows, cols, k, signs, Array.ConvertAll(u, BitStackBlock.ToHalf), Array.ConvertAll(vt, BitStackBlock.ToHalf)));
            norms.Add(Norm(residual));
        }
        return new BitStackWeight(name, rows, cols, list, norms);
    }

    static double Norm(double[] values) => Math.Sqrt(values.Sum(v => v * v));
}
