namespace Engine.Nn;

/// <summary>
/// The router of one expert-choice recursion step (Bae et al. 2025, section 2.2.1; spec structure-and-optimizers.md 1.2;
/// reference <c>model/mor_model/expert_choice_router.py</c> and <c>util.py</c>'s <c>LinearRouter</c>): a
/// <c>Linear(d, 1)</c> without bias scores each token, s = α·σ(z); among the tokens that survived the previous step the
/// step keeps the top k = max(1, ⌊β_r·T⌋), in ascending position order. Training adds the BCE "was selected" loss on z
/// (reference <c>sampling: aux_loss</c>), which trains z so that σ(z) ≥ 0.5 predicts selection: the causal inference
/// path keeps a survivor iff z ≥ 0 (<see cref="MorConfig.ThresholdInEval"/>).
/// Parameter: <c>router.weight</c> [1, d], N(0, 0.02) by <see cref="MorGpt"/>.
/// </summary>
public sealed class ExpertChoiceRouter : Module
{
    /// <summary>A router for width <paramref name="dModel"/>.</summary>
    public ExpertChoiceRouter(int dModel, Generator? generator = null)
    {
        RegisterModule("router", new Linear(dModel, 1, bias: false, generator));
    }

    /// <summary>The scoring projection.</summary>
    public Linear Router => Unwrapped<Linear>("router");

    /// <summary>Router logits z [B, T] of hidden states [B, T, C].</summary>
    public Tensor Logits(Tensor h) => Child("router").Forward(h).Squeeze(-1);

    /// <summary>
    /// The tokens this step keeps. <paramref name="alive"/>[b][t] marks the candidates (survivors of the previous step).
    /// Top-k: the k = min(max(1, ⌊β·T⌋), candidates) highest logits per row (ties to the lower position), T the row
    /// length as in the reference. Threshold: every candidate with z ≥ 0 (σ(z) ≥ 0.5), or every candidate when β ≥ 1.
    /// </summary>
    public static RecursionSelection Select(double[] logits, bool[][] alive, double capacity, bool threshold)
    {
        int batch = alive.Length, length = batch == 0 ? 0 : alive[0].Length;
        if (logits.Length != batch * length)
            throw new ArgumentException($"ExpertChoiceRouter.Select: {logits.Length} logits for {batch} rows of {length} positions");
        var kept = new int[batch][];
        // A guard against β·T landing just under an integer (2/3 · 9); the reference's int() truncation otherwise.
        int k = Math.Max(1, (int)Math.Floor(capacity * length + 1e-9));
        for (int b = 0; b < batch; b++)
        {
            var candidates = Enumerable.Range(0, length).Where(t => alive[b][t]).ToArray();
            IEnumerable<int> chosen = threshold
                ? candidates.Where(t => capacity >= 1 || logits[b * length + t] >= 0)
                : candidates.OrderByDescending(t => logits[b * length + t]).ThenBy(t => t).Take(k);
            kept[b] = chosen.Order().ToArray();
        }
        return new RecursionSelection(kept, length);
    }

    /// <summary>
    /// The BCE selection loss: Σ over candidates of BCEWithLogits(z, kept) divided by the number of candidates
    /// (B·T_candidates in the reference, whose rows all hold the same count in training).
    /// </summary>
    public static Tensor SelectionLoss(Tensor logits, bool[][] alive, RecursionSelection selection)
    {
        int batch = alive.Length, length = logits.Size(1);
        var candidate = new double[batch * length];
        var target = new double[batch * length];
        for (int b = 0; b < batch; b++)
            for (int t = 0; t < length; t++)
            {
                candidate[b * length + t] = alive[b][t] ? 1 : 0;
                target[b * length + t] = selection.Contains(b, t) ? 1 : 0;
            }
        var mask = Tensor.FromArray(candidate, [batch, length]).To(logits.DType).To(logits.Device);
        var y = Tensor.FromArray(target, [batch, length]).To(logits.DType).To(logits.Device);
        // Stable BCE on logits: max(z, 0) − z·y + log(1 + exp(−|z|)).
        var bce = logits.Relu() - logits * y + (-logits.Abs()).Exp().Log1p();
        return (bce * mask).Sum() / Math.Max(1, candidate.Sum());
    }

    /// <summary>Router z-loss over the candidates: mean of logsumexp(z)² = z² for a one-output router.</summary>
    public static Tensor ZLoss(Tensor logits, bool[][] alive)
    {
        var mask = Tensor.FromArray(alive.SelectMany(r => r.Select(a => a ? 1.0 : 0.0)).ToArray(), logits.Shape).To(logits.DType).To(logits.Device);
        return (logits.Square() * mask).Sum() / Math.Max(1, alive.Sum(r => r.Count(a => a)));
    }
}
