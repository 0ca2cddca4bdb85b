namespace Engine.Nn;

/// <summary>
/// What <see cref="LocalLearningCoefficient.Estimate"/> measured: λ̂ = nβ (E_chain[L(w)] − L(w*)) and the traces to check
/// that it is trustworthy (each chain's loss trace should be flat after the burn-in and its λ̂ not negative).
/// </summary>
/// <param name="Llc">λ̂, the mean of the per-chain estimates.</param>
/// <param name="ChainLlcs">λ̂ of each chain: nβ (mean of its draws' losses − <paramref name="InitLoss"/>).</param>
/// <param name="LossTraces">The minibatch loss of every kept draw, [chain][draw].</param>
/// <param name="InitLoss">L(w*), the mean minibatch loss at w* over the initial batches.</param>
/// <param name="NBeta">The nβ used.</param>
public sealed record LlcResult(double Llc, IReadOnlyList<double> ChainLlcs, IReadOnlyList<double[]> LossTraces, double InitLoss, double NBeta)
{
    /// <summary>The sample standard deviation of <see cref="ChainLlcs"/> (0 for one chain).</summary>
    public double LlcStd
    {
        get
        {
            if (ChainLlcs.Count < 2) return 0;
            double mean = ChainLlcs.Average();
            return Math.Sqrt(ChainLlcs.Sum(x => (x - mean) * (x - mean)) / (ChainLlcs.Count - 1));
        }
    }

    /// <summary>The per-draw estimate nβ (L(w_t) − L(w*)), [chain][draw] (devinterp's <c>llc/trace</c>).</summary>
    public double[][] LlcTraces => LossTraces.Select(t => t.Select(l => NBeta * (l - InitLoss)).ToArray()).ToArray();

    /// <summary>
    /// Stationarity check: for each chain, nβ times (mean loss of the second half of its draws − mean of the first half).
    /// A value comparable to λ̂ means the chain was still drifting: burn in longer or lower ε.
    /// </summary>
    public double[] ChainDrifts => LossTraces.Select(t =>
    {
        int h = t.Length / 2;
        return h == 0 ? 0 : NBeta * (t.Skip(t.Length - h).Average() - t.Take(h).Average());
    }).ToArray();
}
