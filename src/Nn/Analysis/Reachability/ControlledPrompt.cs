using Engine.Autograd;

namespace Engine.Nn;

/// <summary>
/// The system of "What's the Magic Word?" (Bhargava et al. 2023, arXiv 2310.04444, section 3; spec seeds-remaining.md
/// §8): a GPT with an imposed state x0 (token ids) and a control prompt u prepended, read at zero temperature: the
/// output is argmax P(· | u ⊕ x0), the next token after the last token of x0. This class checks the inputs once and
/// scores many control prompts per forward pass (the reachability searches' only access to the model).
/// <code>var system = new ControlledPrompt(gpt, [0, 5, 1]); var scores = system.Score([[3], [7]]);</code>
/// </summary>
public sealed class ControlledPrompt
{
    readonly HashSet<int> _blacklist;

    /// <summary>
    /// The system of <paramref name="model"/> (in evaluation mode, or without dropout) with imposed state
    /// <paramref name="imposedState"/> (at least one token). <paramref name="blacklist"/> lists tokens that no control
    /// prompt may contain (the reference code's blacklist); <paramref name="maxBatch"/> bounds the prompts per forward.
    /// </summary>
    /// <exception cref="ArgumentException">An empty state, a token outside the vocabulary, a blacklist that leaves no token, a state that fills the context, or maxBatch &lt; 1.</exception>
    /// <exception cref="InvalidOperationException">The model is in training mode with dropout (the output would be random).</exception>
    public ControlledPrompt(Gpt model, IReadOnlyList<int> imposedState, IReadOnlyCollection<int>? blacklist = null, int maxBatch = 1024)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(imposedState);
        int v = model.Config.VocabSize;
        if (imposedState.Count == 0) throw new ArgumentException("ControlledPrompt: the imposed state x0 needs at least one token (the output is the next token after its last)");
        foreach (int t in imposedState)
            if (t < 0 || t >= v) throw new ArgumentException($"ControlledPrompt: imposed state token {t} is outside the vocabulary [0, {v})");
        if (model.Training && model.Config.Dropout > 0)
            throw new InvalidOperationException("ControlledPrompt: the model is in training mode with dropout; call Eval() so that the output is the zero-temperature argmax");
        if (maxBatch < 1) throw new ArgumentException($"ControlledPrompt: maxBatch must be at least 1, got {maxBatch}");
        _blacklist = [.. blacklist ?? []];
        foreach (int t in _blacklist)
            if (t < 0 || t >= v) throw new ArgumentException($"ControlledPrompt: blacklisted token {t} is outside the vocabulary [0, {v})");
        AllowedTokens = Enumerable.Range(0, v).Where(t => !_blacklist.Contains(t)).ToArray();
        if (AllowedTokens.Count == 0) throw new ArgumentException($"ControlledPrompt: the blacklist excludes all {v} tokens; no control prompt is possible");
        // Learned positions bound u ⊕ x0 by the context; rotary models have no table but keep the trained length.
        MaxPromptLength = model.Config.ContextLength - imposedState.Count;
        if (MaxPromptLength < 0)
            throw new ArgumentException($"ControlledPrompt: the imposed state has {imposedState.Count} tokens, more than the context length {model.Config.ContextLength}");
        Model = model;
        ImposedState = [.. imposedState];
        MaxBatch = maxBatch;
    }

    /// <summary>The language model.</summary>
    public Gpt Model { get; }

    /// <summary>The imposed state x0.</summary>
    public IReadOnlyList<int> ImposedState { get; }

    /// <summary>The vocabulary size |V|.</summary>
    public int VocabSize => Model.Config.VocabSize;

    /// <summary>The tokens a control prompt may hold (the vocabulary less the blacklist), ascending.</summary>
    public IReadOnlyList<int> AllowedTokens { get; }

    /// <summary>Whether a control prompt may hold <paramref name="token"/>.</summary>
    public bool IsAllowed(int token) => token >= 0 && token < VocabSize && !_blacklist.Contains(token);

    /// <summary>The longest control prompt: the context length less |x0|.</summary>
    public int MaxPromptLength { get; }

    /// <summary>Prompts scored per forward pass.</summary>
    public int MaxBatch { get; }

    /// <summary>Checks that a control prompt of <paramref name="length"/> tokens fits the context.</summary>
    /// <exception cref="ArgumentException">It does not (or is negative).</exception>
    public void CheckLength(int length, string caller)
    {
        if (length < 0) throw new ArgumentException($"{caller}: the control prompt length must be at least 0, got {length}");
        if (length > MaxPromptLength)
            throw new ArgumentException($"{caller}: a control prompt of {length} tokens with the {ImposedState.Count}-token imposed state exceeds the context length {Model.Config.ContextLength} (at most {MaxPromptLength} control tokens)");
    }

    /// <summary>
    /// The log-probabilities of the next token after u ⊕ x0 for every prompt u of <paramref name="prompts"/> (all of
    /// the same length, blacklisted tokens allowed here so that a caller can measure them), batched
    /// <see cref="MaxBatch"/> prompts per forward pass without recording a graph.
    /// </summary>
    /// <exception cref="ArgumentException">The prompts differ in length, hold a token outside the vocabulary, or do not fit the context.</exception>
    public NextTokenScores Score(IReadOnlyList<int[]> prompts)
    {
        ArgumentNullException.ThrowIfNull(prompts);
        int v = VocabSize, n = ImposedState.Count;
        if (prompts.Count == 0) return new NextTokenScores(new double[0], 0, v);
        int k = prompts[0].Length;
        CheckLength(k, "ControlledPrompt.Score");
        var logProbs = new double[prompts.Count * v];
        int t = k + n;
        for (int start = 0; start < prompts.Count; start += MaxBatch)
        {
            int rows = Math.Min(MaxBatch, prompts.Count - start);
            var ids = new long[rows * t];
            for (int r = 0; r < rows; r++)
            {
                var u = prompts[start + r];
                if (u.Length != k) throw new ArgumentException($"ControlledPrompt.Score: every prompt of one call must have the same length; prompt {start + r} has {u.Length} tokens, prompt 0 has {k}");
                for (int i = 0; i < k; i++)
                {
                    if (u[i] < 0 || u[i] >= v) throw new ArgumentException($"ControlledPrompt.Score: prompt {start + r} holds token {u[i]}, outside the vocabulary [0, {v})");
                    ids[r * t + i] = u[i];
                }
                for (int i = 0; i < n; i++) ids[r * t + k + i] = ImposedState[i];
            }
            using (Autograd.Autograd.NoGrad())
            {
                var last = Model.Forward(Tensor.FromArray(ids, [rows, t])).Narrow(1, t - 1, 1).Reshape(rows, v);
                last.LogSoftmax(1).To(DType.Float64).ToArray<double>().CopyTo(logProbs, start * v);
            }
        }
        return new NextTokenScores(logProbs, prompts.Count, v);
    }

    /// <summary>The scores of one prompt.</summary>
    public NextTokenScores Score(int[] prompt) => Score([prompt]);
}
