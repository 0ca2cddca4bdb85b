using Engine.Autograd;

namespace Engine.Nn.Compression;

/// <summary>
/// The empirical Fisher information of chosen weights, I_ij = mean over calibration batches of (∂L/∂W_ij)² for the task
/// loss L (FWSVD, Hsu et al. 2022, §3; spec structure-and-optimizers.md §4.3): how much the loss cares about each entry,
/// which FWSVD then sums per row (<see cref="FisherWeightedSvd.RowImportance"/>).
/// <code>var fisher = FisherInformation.Accumulate(model, weights, 16, i =&gt; Losses.CrossEntropy(model.Forward(x[i]), y[i]));</code>
/// </summary>
public static class FisherInformation
{
    /// <summary>
    /// Runs <paramref name="batches"/> backward passes of <paramref name="loss"/> (called with the batch index) and
    /// returns, per named weight, the mean of its squared gradient (Float64, the weight's shape). Gradients of
    /// <paramref name="model"/> are cleared before each batch and after the last; the weights are not changed.
    /// </summary>
    /// <exception cref="ArgumentException">No batches, or a weight does not require grad.</exception>
    /// <exception cref="InvalidOperationException">A loss gives no gradient to a weight, or a non-finite one.</exception>
    public static Dictionary<string, Tensor> Accumulate(Module model, IReadOnlyList<(string Name, Tensor Weight)> weights, int batches, Func<int, Tensor> loss)
    {
        if (batches < 1) throw new ArgumentException($"FisherInformation.Accumulate: batches must be at least 1, got {batches}");
        foreach (var (name, w) in weights)
            if (!w.RequiresGrad) throw new ArgumentException($"FisherInformation.Accumulate: weight '{name}' {Shapes.Format(w.Shape)} does not require grad");
        var sums = weights.Select(w => new double[w.Weight.Numel]).ToArray();
        for (int b = 0; b < batches; b++)
        {
            model.ZeroGrad();
            var value = loss(b);
            value.Backward();
            for (int i = 0; i < weights.Count; i++)
            {
                var (name, w) = weights[i];
                var grad = w.Grad?.ToDoubleArray() ?? throw new InvalidOperationException($"FisherInformation.Accumulate: the loss of batch {b} gives no gradient to '{name}'");
                var sum = sums[i];
                for (int j = 0; j < sum.Length; j++) sum[j] += grad[j] * grad[j];
            }
        }
        model.ZeroGrad();
        var result = new Dictionary<string, Tensor>();
        for (int i = 0; i < weights.Count; i++)
        {
            var mean = Array.ConvertAll(sums[i], v => v / batches);
            if (mean.Any(v => !double.IsFinite(v))) throw new InvalidOperationException($"FisherInformation.Accumulate: '{weights[i].Name}' has a non-finite squared gradient");
            result[weights[i].Name] = Tensor.FromArray(mean, weights[i].Weight.Shape);
        }
        return result;
    }
}
