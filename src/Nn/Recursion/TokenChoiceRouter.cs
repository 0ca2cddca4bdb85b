namespace Engine.Nn;

/// <summary>
/// The token-choice router of Mixture-of-Recursions (Bae et al. 2025, section 2.2.2; spec structure-and-optimizers.md
/// 1.2; reference <c>model/mor_model/token_choice_router.py</c>): one <c>Linear(d, N_r)</c> without bias at the first
/// recursion, p = α·softmax(z); a token's depth is j = argmax p (top-1) and it runs j + 1 steps; its gate w = p_j.
/// Training adds the balancing loss Σ_i P_i f_i (P_i the mean of p_i over tokens, f_i = N_r × the fraction of tokens
/// assigned depth i) and the router z-loss mean(logsumexp(z)²).
/// Parameter: <c>router.weight</c> [N_r, d], N(0, 0.02) by <see cref="MorGpt"/>.
/// </summary>
public sealed class TokenChoiceRouter : Module
{
    /// <summary>A router for width <paramref name="dModel"/> and <paramref name="recursions"/> depths.</summary>
    public TokenChoiceRouter(int dModel, int recursions, Generator? generator = null)
    {
        Recursions = recursions;
        RegisterModule("router", new Linear(dModel, recursions, bias: false, generator));
    }

    /// <summary>N_r, the number of depths.</summary>
    public int Recursions { get; }

    /// <summary>The scoring projection.</summary>
    public Linear Router => Unwrapped<Linear>("router");

    /// <summary>Router logits z [B, T, N_r] of hidden states [B, T, C].</summary>
    public Tensor Logits(Tensor h) => Child("router").Forward(h);

    /// <summary>The depth index j (0-based) of each token: argmax of <paramref name="probs"/> [B, T, N_r], ties to the shallower depth.</summary>
    public static int[][] Depths(Tensor probs)
    {
        int batch = probs.Size(0), length = probs.Size(1), n = probs.Size(2);
        var p = probs.ToDoubleArray();
        var depth = new int[batch][];
        for (int b = 0; b < batch; b++)
        {
            depth[b] = new int[length];
            for (int t = 0; t < length; t++)
            {
                int best = 0, o = (b * length + t) * n;
                for (int i = 1; i < n; i++) if (p[o + i] > p[o + best]) best = i;
                depth[b][t] = best;
            }
        }
        return depth;
    }

    /// <summary>
    /// The balancing loss Σ_i P_i f_i of probabilities <paramref name="probs"/> [B, T, N_r] (α included, as the
    /// reference) and depths <paramref name="depth"/>: P_i = mean over tokens of p_i, f_i = N_r · count_i / (B·T).
    /// Gradient flows through P only. At a uniform assignment (every f_i = 1) it equals Σ_i P_i = α.
    /// </summary>
    public static Tensor BalanceLoss(Tensor probs, int[][] depth)
    {
        int n = probs.Size(2), tokens = depth.Sum(r => r.Length);
        var f = new double[n];
        foreach (var row in depth) foreach (var j in row) f[j] += (double)n / tokens;
        var p = probs.Reshape(-1, n).Mean(0);
        return (p * Tensor.FromArray(f).To(probs.DType).To(probs.Device)).Sum();
    }

    /// <summary>Router z-loss (ST-MoE): mean over tokens of logsumexp(z)².</summary>
    public static Tensor ZLoss(Tensor logits) => logits.LogSumExp(-1).Square().Mean();
}
