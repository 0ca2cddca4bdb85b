namespace Engine.Nn;

/// <summary>
/// Next-token log-probabilities of a batch of control prompts ([count, vocab], row-major), as
/// <see cref="ControlledPrompt.Score(IReadOnlyList{int[]})"/> returns them: the zero-temperature output and the
/// cross-entropy of a target that the searches minimise.
/// </summary>
public sealed class NextTokenScores
{
    readonly double[] _logProbs;

    /// <summary>Wraps <paramref name="logProbs"/> [count × vocab].</summary>
    public NextTokenScores(double[] logProbs, int count, int vocab)
    {
        if (logProbs.Length != count * vocab) throw new ArgumentException($"NextTokenScores: {logProbs.Length} values are not {count} × {vocab}");
        _logProbs = logProbs;
        Count = count;
        VocabSize = vocab;
    }

    /// <summary>Number of prompts scored.</summary>
    public int Count { get; }

    /// <summary>The vocabulary size.</summary>
    public int VocabSize { get; }

    /// <summary>log P(token | u_row ⊕ x0).</summary>
    public double LogProb(int row, int token) => _logProbs[row * VocabSize + token];

    /// <summary>CE(y* | u_row ⊕ x0) = −log P(y* | u_row ⊕ x0), the loss the searches minimise.</summary>
    public double Loss(int row, int target) => -LogProb(row, target);

    /// <summary>The output at zero temperature: argmax over the vocabulary, the lowest id on a tie (torch.argmax's choice).</summary>
    public int ArgMax(int row)
    {
        int best = 0, offset = row * VocabSize;
        for (int j = 1; j < VocabSize; j++)
            if (_logProbs[offset + j] > _logProbs[offset + best]) best = j;
        return best;
    }

    /// <summary>The rank of <paramref name="token"/> in row <paramref name="row"/>: how many tokens are strictly more likely (0 is the argmax).</summary>
    public int Rank(int row, int token)
    {
        int offset = row * VocabSize, rank = 0;
        double p = _logProbs[offset + token];
        for (int j = 0; j < VocabSize; j++)
            if (_logProbs[offset + j] > p || (_logProbs[offset + j] == p && j < token)) rank++;
        return rank;
    }
}
