namespace Engine.Nn;

/// <summary>
/// The local interaction basis of one node layer (spec seeds-remaining.md §9b): C [d, k] and its pseudo-inverse C⁺ [k, d]
/// with the coordinates <c>f̂ = f C</c> of a row of activations f [d] (the constant-1 component included when the layer
/// feeds another), and the interaction strengths Λ [k], largest first. All Float64.
/// </summary>
/// <param name="C">The basis, [d, k]: <c>R V Λ^{1/2}</c>, or the Gram eigenbasis U for the output layer.</param>
/// <param name="CPinv">Its pseudo-inverse, [k, d]: <c>Λ^{−1/2} Vᵀ R⁺</c> (Uᵀ for the output layer).</param>
/// <param name="Lambda">The kept eigenvalues of M (of G for the output layer), descending, [k].</param>
/// <param name="GramEigenvalues">The eigenvalues D of G = E[f fᵀ] that were kept, descending: the PCA spectrum.</param>
/// <param name="GramEigenvectors">The matching eigenvectors U [d, kG] of G: the PCA basis to compare against.</param>
/// <param name="HasConstant">True when the last component of f is the constant 1 that carries the next layer's bias.</param>
public sealed record InteractionBasisLayer(Tensor C, Tensor CPinv, Tensor Lambda, Tensor GramEigenvalues, Tensor GramEigenvectors, bool HasConstant)
{
    /// <summary>d, the width of f (the constant component included).</summary>
    public int Width => C.Size(0);

    /// <summary>k, the number of LIB directions kept.</summary>
    public int Dimension => C.Size(1);

    /// <summary>f̂ = f C: rows of activations [N, d] (Float64) in LIB coordinates [N, k].</summary>
    public Tensor Coordinates(Tensor f) => f.To(DType.Float64).MatMul(C);

    /// <summary>
    /// f projected onto the <paramref name="keep"/> strongest LIB directions and mapped back, f C_S C⁺_S [N, d]: the
    /// ablation that removes the directions of smallest Λ.
    /// </summary>
    public Tensor KeepStrongest(Tensor f, int keep)
    {
        if (keep < 0 || keep > Dimension) throw new ArgumentException($"InteractionBasisLayer.KeepStrongest: keep must be in [0, {Dimension}], got {keep}");
        return f.To(DType.Float64).MatMul(C.Narrow(1, 0, keep)).MatMul(CPinv.Narrow(0, 0, keep));
    }

    /// <summary>f projected onto the <paramref name="keep"/> leading eigenvectors of G, f U_S U_Sᵀ [N, d] (the PCA ablation of equal count).</summary>
    public Tensor KeepLeadingPrincipal(Tensor f, int keep)
    {
        int available = GramEigenvectors.Size(1);
        if (keep < 0 || keep > available) throw new ArgumentException($"InteractionBasisLayer.KeepLeadingPrincipal: keep must be in [0, {available}], got {keep}");
        var u = GramEigenvectors.Narrow(1, 0, keep);
        return f.To(DType.Float64).MatMul(u).MatMul(u.T);
    }
}
