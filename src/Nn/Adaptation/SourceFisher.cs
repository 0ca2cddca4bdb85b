namespace Engine.Nn;

/// <summary>
/// The diagonal Fisher information of a source model that PSMT anchors to (spec seeds-remaining.md §4; as in EATA):
/// F0 = mean over source batches of (∂ CE(f_θ(x), argmax f_θ(x)) / ∂θ)², the model's own predictions as labels, one
/// squared batch gradient per batch (the released code's estimate, not per-sample squares).
/// </summary>
public static class SourceFisher
{
    /// <summary>F0 for each of <paramref name="parameters"/> from <paramref name="batches"/> batches of logits <paramref name="logitsOfBatch"/>(i) [B, C].</summary>
    /// <exception cref="ArgumentException">No batches or no parameters.</exception>
    public static Tensor[] Estimate(IReadOnlyList<Tensor> parameters, int batches, Func<int, Tensor> logitsOfBatch)
    {
        if (batches < 1) throw new ArgumentException($"SourceFisher: needs at least one batch, got {batches}");
        if (parameters.Count == 0) throw new ArgumentException("SourceFisher: no parameters");
        var inputs = parameters.ToArray();
        var fisher = inputs.Select(p => Tensor.Zeros(p.Shape, DType.Float64, p.Device)).ToArray();
        for (int i = 0; i < batches; i++)
        {
            var logits = logitsOfBatch(i);
            var pseudoLabels = logits.Detach().ArgMax(-1);
            var grads = Autograd.Autograd.Grad(Losses.CrossEntropy(logits, pseudoLabels), inputs);
            for (int j = 0; j < inputs.Length; j++) fisher[j] = fisher[j] + grads[j].To(DType.Float64).Square();
        }
        return fisher.Select((f, j) => (f / batches).To(inputs[j].DType)).ToArray();
    }
}
