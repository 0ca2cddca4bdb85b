namespace Engine.Peft.LowRank;

/// <summary>
/// Initialisations of a rank-r factor pair (A [r, in], B [out, r]) from the base weight W [out, in], shared by the
/// LoRA family. Each returns factors with s B A equal to a part of W, which the caller removes from the base.
/// </summary>
public static class LowRankInit
{
    /// <summary>
    /// PiSSA (Meng et al. 2024, section 3): W = U S V^T; A = sqrt(S_r / s) V_r^T, B = U_r sqrt(S_r / s), so that
    /// s B A is the best rank-r approximation of W (PEFT divides S by the scale the same way).
    /// </summary>
    public static (Tensor A, Tensor B) Pissa(Tensor weight, int r, double scaling)
    {
        var (u, sv, vh) = WeightSvd.Principal(weight, r);
        var root = (sv / scaling).Sqrt();
        var a = root.Unsqueeze(1) * vh;
        var b = u * root.Unsqueeze(0);
        return (a.To(weight.DType), b.To(weight.DType));
    }

    /// <summary>
    /// OLoRA (Büyükakyüz 2024, section 3): thin QR, W = Q R; B = Q[:, :r], A = R[:r, :]. The caller removes s B A.
    /// </summary>
    public static (Tensor A, Tensor B) Olora(Tensor weight, int r)
    {
        var (q, rr) = Linalg.Qr(weight.Detach().To(DType.Float64));
        if (r > q.Size(1))
            throw new ArgumentException($"OLoRA: rank {r} exceeds min(out, in) = {q.Size(1)} of weight {Shapes.Format(weight.Shape)}");
        return (rr.Narrow(0, 0, r).Contiguous().To(weight.DType), q.Narrow(1, 0, r).Contiguous().To(weight.DType));
    }

    /// <summary>
    /// Orthogonal initialisation (PEFT's <c>orthogonal_init</c>, after datta0.github.io/posts/rethink-lora-init): Q from
    /// the QR of an r x r Gaussian; A = (G1 Q_odd)ᵀ / 10 with G1 [in, r/2] Gaussian and Q_odd the rows 0, 2, 4...;
    /// B = G2ᵀ Q_even / 10 with G2 [r/2, out] and Q_even the rows 1, 3, 5.... Both are non-zero, yet B A = G2ᵀ Q_even
    /// Q_oddᵀ G1ᵀ / 100 = 0 because distinct rows of Q are orthogonal: the adapter starts at the base, which stays untouched.
    /// </summary>
    public static (Tensor A, Tensor B) Orthogonal(int r, int inFeatures, int outFeatures, Generator generator)
    {
        if (r % 2 != 0) throw new ArgumentException($"orthogonal initialisation needs an even rank, got {r}");
        var (q, _) = Linalg.Qr(Tensor.Randn([r, r], 0, 1, DType.Float64, generator));
        var rows = q.Reshape(r / 2, 2, r);
        var odd = rows.Select(1, 0).Contiguous();
        var even = rows.Select(1, 1).Contiguous();
        var a = (Tensor.Randn([inFeatures, r / 2], 0, 1, DType.Float64, generator) % odd).T / 10.0;
        var b = Tensor.Randn([r / 2, outFeatures], 0, 1, DType.Float64, generator).T % even / 10.0;
        return (a.Contiguous(), b.Contiguous());
    }
}
