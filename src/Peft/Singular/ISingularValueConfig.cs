namespace Engine.Peft.Singular;

/// <summary>
/// A method that trains singular values of the base weight and nothing else (SVFit, CLIP-SVD; spec
/// adapters-lowrank.md sections 5 and 7): what <see cref="SingularValueLayer"/> needs to know of its config.
/// </summary>
public interface ISingularValueConfig
{
    /// <summary>The prefix of the adapter's file keys (<c>svfit</c>: <c>svfit_s</c>, <c>svfit_U</c>, ...).</summary>
    string TensorPrefix { get; }

    /// <summary>
    /// The number r of trained singular values for a weight with <paramref name="k"/> = min(out, in) singular values
    /// (descending, computed on demand: only the energy rule reads them).
    /// </summary>
    int RankFor(int k, Func<Tensor> singularValues);

    /// <summary>
    /// True: the frozen rest W0 − U_r diag(S_r) V_rᵀ stays in the weight (SVFit). False: it is dropped, W' = U_r diag(s)
    /// V_rᵀ (CLIP-SVD's SVD_Linear, which keeps only the top r' triplets; nothing is dropped when r = k).
    /// </summary>
    bool KeepsResidual { get; }

    /// <summary>True when the trained values are stored [1, r] (CLIP-SVD's <c>vector_S</c>) rather than [r].</summary>
    bool StoresRowVector { get; }
}
