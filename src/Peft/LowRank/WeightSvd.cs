namespace Engine.Peft.LowRank;

/// <summary>
/// The singular value decomposition of a frozen base weight W [out, in], written once for every method that starts
/// from it (PiSSA, PSOFT, LoRA-GA, SVFit, SALT, CLIP-SVD, KIND): W = U diag(S) Vᵀ in Float64 on the host, S descending.
/// <para>
/// Sign convention. Singular vectors are unique only up to a common sign per triplet (and a rotation inside a repeated
/// singular value). The engine fixes the sign so that, in each column of U, the entry of largest magnitude is positive
/// (the first such entry on ties), and flips the matching row of Vᵀ. The product U diag(S) Vᵀ is unchanged, so
/// methods that only use the product (SVFit, CLIP-SVD, PiSSA) are sign-free anyway; methods that mix triplets
/// (SALT's dense block X·Y and its element-wise ReLU) do depend on it, which is why they save U, S and Vᵀ with the
/// adapter. PyTorch keeps LAPACK's signs, which follow no rule, so files written by PyTorch scripts are loaded with
/// their saved factors, never recomputed.
/// </para>
/// <code>var (u, s, vh) = WeightSvd.Principal(layer.Weight, 8); // u [out, 8], s [8], vh [8, in]</code>
/// </summary>
public static class WeightSvd
{
    /// <summary>The top-<paramref name="r"/> singular triplets of W: U_r [out, r], S_r [r] (descending), V_rᵀ [r, in], Float64, signs fixed.</summary>
    public static (Tensor U, Tensor S, Tensor Vh) Principal(Tensor weight, int r)
    {
        var (u, sv, vh) = Linalg.SvdTopK(weight.Detach().To(Device.Cpu).To(DType.Float64), r);
        var flip = Tensor.FromArray(ColumnSigns(u));
        return (u * flip.Unsqueeze(0), sv, vh * flip.Unsqueeze(1));
    }

    /// <summary>The thin decomposition (k = min(out, in) triplets), with the same sign convention.</summary>
    public static (Tensor U, Tensor S, Tensor Vh) Thin(Tensor weight) => Principal(weight, Math.Min(weight.Size(0), weight.Size(1)));

    /// <summary>
    /// The smallest r whose top singular values hold at least <paramref name="energy"/> of Σσ² (SVFit's "over 99% of
    /// the matrix's information", arXiv 2409.05926, read as spectral energy: the engine's choice). At least 1.
    /// </summary>
    public static int RankForEnergy(Tensor singularValues, double energy)
    {
        if (energy is <= 0 or > 1) throw new ArgumentException($"WeightSvd.RankForEnergy: energy must be in (0, 1], got {energy}");
        var s = singularValues.ToDoubleArray();
        double total = s.Sum(v => v * v), running = 0;
        for (int i = 0; i < s.Length; i++)
        {
            running += s[i] * s[i];
            if (running >= energy * total) return i + 1;
        }
        return Math.Max(1, s.Length);
    }

    // +1 or -1 per column of U [m, r]: the sign of the column's entry of largest magnitude (the first on ties).
    static double[] ColumnSigns(Tensor u)
    {
        int m = u.Size(0), r = u.Size(1);
        var data = u.ToDoubleArray();
        var signs = new double[r];
        for (int j = 0; j < r; j++)
        {
            int best = 0;
            for (int i = 1; i < m; i++) if (Math.Abs(data[i * r + j]) > Math.Abs(data[best * r + j])) best = i;
            signs[j] = data[best * r + j] < 0 ? -1 : 1;
        }
        return signs;
    }
}
