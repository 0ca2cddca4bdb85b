namespace Engine.Peft.Tucker;

/// <summary>
/// The Tucker product of a core and one factor per mode (FLoRA, Si et al. 2024, arXiv 2405.14739, equation 3; the
/// reference code's <c>FLoRALayer.forward</c> in SJTU-DeepVisionLab/FLoRA <c>flora/layers.py</c>; spec
/// adapters-lowrank.md section 8): X = G ×_1 P0 ×_2 P1 ×_3 … with G [r0, …, r(N−1)] and P_i [d_i, r_i], so
/// X[j0, …, j(N−1)] = Σ_{a0…a(N−1)} G[a0, …, a(N−1)] · Π_i P_i[j_i, a_i], of shape [d0, …, d(N−1)].
/// </summary>
public static class TuckerProduct
{
    /// <summary>
    /// G ×_1 P0 ×_2 P1 … [d0, …, d(N−1)], differentiable in every input. As the reference code, it contracts the
    /// leading mode of the running tensor with the next factor N times (each a reshape and one matrix product), so the
    /// contracted mode leaves the front and its output dimension joins the back.
    /// </summary>
    /// <exception cref="ArgumentException">The factor count differs from the core's rank, or a factor's rank from its mode.</exception>
    public static Tensor Product(Tensor core, IReadOnlyList<Tensor> factors)
    {
        int n = core.Rank;
        if (factors.Count != n) throw new ArgumentException($"TuckerProduct: a core of {n} modes needs {n} factors, got {factors.Count}");
        var ranks = core.Shape;
        for (int i = 0; i < n; i++)
            if (factors[i].Rank != 2 || factors[i].Size(1) != ranks[i])
                throw new ArgumentException($"TuckerProduct: factor {i} must be [d, {ranks[i]}], got {Shapes.Format(factors[i].Shape)}");
        var x = core;
        // x holds modes [r_i, …, r(N−1), d_0, …, d(i−1)].
        for (int i = 0; i < n; i++)
        {
            var rest = x.Shape[1..];
            int restSize = rest.Aggregate(1, (a, b) => a * b);
            var contracted = x.Reshape(ranks[i], restSize).T.MatMul(factors[i].T);
            x = contracted.Reshape([.. rest, factors[i].Size(0)]);
        }
        return x;
    }
}
