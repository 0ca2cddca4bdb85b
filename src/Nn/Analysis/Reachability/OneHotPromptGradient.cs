using Engine.Autograd;

namespace Engine.Nn;

/// <summary>
/// The gradient of CE(y* | u ⊕ x0) with respect to the one-hot encoding of each control token (GCG, Zou et al. 2023,
/// as used by arXiv 2310.04444 and amanb2000/Magic_Words <c>easy_gcg.py</c>): the prompt's embeddings are
/// onehot(u) · E, so ∂L/∂onehot[p, v] = ⟨∂L/∂emb_p, E_v⟩, i.e. the gradient of the embeddings times Eᵀ. Entry [p, v]
/// is the first-order change of the loss when token v replaces u_p; GCG takes the most negative entries as candidates.
/// E is the model's token embedding table (<see cref="Gpt.Tok"/>); the model's own parameters get no gradient.
/// </summary>
public static class OneHotPromptGradient
{
    /// <summary>The gradient [|u|, |V|] (row p, column v) and the loss CE(y* | u ⊕ x0) it is taken at.</summary>
    /// <exception cref="ArgumentException">The prompt is empty, holds a token outside the vocabulary, or does not fit the context; or the target is outside the vocabulary.</exception>
    public static (double[,] Gradient, double Loss) Compute(ControlledPrompt system, int[] prompt, int target)
    {
        ArgumentNullException.ThrowIfNull(system);
        ArgumentNullException.ThrowIfNull(prompt);
        GreedyPromptSearch.CheckTarget(system, target, "OneHotPromptGradient");
        if (prompt.Length == 0) throw new ArgumentException("OneHotPromptGradient: the control prompt is empty; there is no token to take the gradient of");
        system.CheckLength(prompt.Length, "OneHotPromptGradient");
        int v = system.VocabSize, k = prompt.Length;
        foreach (int token in prompt)
            if (token < 0 || token >= v) throw new ArgumentException($"OneHotPromptGradient: prompt token {token} is outside the vocabulary [0, {v})");
        var model = system.Model;
        var table = model.Tok.Weight;
        using var grad = Autograd.Autograd.EnableGrad();
        Tensor controlEmbeddings, stateEmbeddings;
        using (Autograd.Autograd.NoGrad())
        {
            controlEmbeddings = model.Tok.Forward(Tensor.FromArray(prompt.Select(t => (long)t).ToArray(), [1, k])).Detach();
            stateEmbeddings = model.Tok.Forward(Tensor.FromArray(system.ImposedState.Select(t => (long)t).ToArray(), [1, system.ImposedState.Count])).Detach();
        }
        controlEmbeddings.RequiresGrad = true;
        var logits = model.ForwardEmbeddings(Tensor.Concat([controlEmbeddings, stateEmbeddings], 1), null);
        int t = k + system.ImposedState.Count;
        var loss = Losses.CrossEntropy(logits.Narrow(1, t - 1, 1).Reshape(1, v), Tensor.FromArray(new long[] { target }, [1]));
        var embeddingGradient = Autograd.Autograd.Grad(loss, [controlEmbeddings])[0];
        double[] values;
        using (Autograd.Autograd.NoGrad())
            values = embeddingGradient.Reshape(k, model.Config.DModel).MatMul(table.Detach().T).To(DType.Float64).ToArray<double>();
        var result = new double[k, v];
        for (int p = 0; p < k; p++)
            for (int j = 0; j < v; j++) result[p, j] = values[p * v + j];
        return (result, loss.Item());
    }
}
