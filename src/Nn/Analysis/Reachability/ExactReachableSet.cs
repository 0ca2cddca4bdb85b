namespace Engine.Nn;

/// <summary>
/// The exact reachable set R_y^k(x0) = {y : ∃u, |u| ≤ k, argmax P(· | u ⊕ x0) = y} (arXiv 2310.04444, definition of
/// the reachable output set; spec seeds-remaining.md §8) by enumerating every control prompt of the allowed tokens,
/// length 0 to k: Σ_L |V|^L prompts, scored in batches. For each token it keeps the shortest prompt that makes it the
/// output (the first in lexicographic order of that length), so the set for every k' ≤ k comes with one run.
/// <code>var exact = ExactReachableSet.Compute(system, maxLength: 3); bool ok = exact.IsReachable(target, 2);</code>
/// </summary>
public sealed class ExactReachableSet
{
    readonly int[]?[] _witness;

    ExactReachableSet(int[]?[] witness, int maxLength, long promptsScored)
    {
        _witness = witness;
        MaxLength = maxLength;
        PromptsScored = promptsScored;
    }

    /// <summary>The largest prompt length enumerated (k).</summary>
    public int MaxLength { get; }

    /// <summary>How many control prompts were scored (Σ_{L ≤ k} |allowed|^L).</summary>
    public long PromptsScored { get; }

    /// <summary>The shortest control prompt that makes <paramref name="token"/> the output, or null when none of length ≤ k does.</summary>
    public int[]? Witness(int token) => _witness[token];

    /// <summary>The length of the shortest control prompt reaching <paramref name="token"/>, or −1 when unreachable with |u| ≤ k.</summary>
    public int MinimalLength(int token) => _witness[token]?.Length ?? -1;

    /// <summary>Whether <paramref name="token"/> is reachable with |u| ≤ <paramref name="length"/> (at most <see cref="MaxLength"/>).</summary>
    public bool IsReachable(int token, int length)
    {
        if (length > MaxLength) throw new ArgumentException($"ExactReachableSet.IsReachable: the set was enumerated up to length {MaxLength}, asked about {length}");
        return MinimalLength(token) is >= 0 and var m && m <= length;
    }

    /// <summary>The reachable set with |u| ≤ <paramref name="length"/>, ascending token ids.</summary>
    public IReadOnlyList<int> Reachable(int length) => Enumerable.Range(0, _witness.Length).Where(t => IsReachable(t, length)).ToList();

    /// <summary>Largest Σ_L |allowed|^L this enumeration accepts, so that a typo in k fails at once instead of running for days.</summary>
    public const long MaxPrompts = 50_000_000;

    /// <summary>Enumerates every control prompt of length 0..<paramref name="maxLength"/> over the allowed tokens of <paramref name="system"/>.</summary>
    /// <exception cref="ArgumentException">maxLength is negative, does not fit the context, or the enumeration would exceed <see cref="MaxPrompts"/>.</exception>
    public static ExactReachableSet Compute(ControlledPrompt system, int maxLength)
    {
        ArgumentNullException.ThrowIfNull(system);
        system.CheckLength(maxLength, "ExactReachableSet.Compute");
        var allowed = system.AllowedTokens;
        long total = 0, power = 1;
        for (int length = 0; length <= maxLength; length++, power *= allowed.Count)
        {
            total += power;
            if (total > MaxPrompts)
                throw new ArgumentException($"ExactReachableSet.Compute: |u| ≤ {maxLength} over {allowed.Count} tokens is more than {MaxPrompts:N0} prompts; use the greedy or GCG search for long prompts");
        }
        var witness = new int[]?[system.VocabSize];
        for (int length = 0; length <= maxLength; length++)
        {
            long count = (long)Math.Pow(allowed.Count, length);
            for (long first = 0; first < count; first += system.MaxBatch)
            {
                int rows = (int)Math.Min(system.MaxBatch, count - first);
                var prompts = new int[rows][];
                for (int r = 0; r < rows; r++) prompts[r] = Decode(first + r, length, allowed);
                var scores = system.Score(prompts);
                for (int r = 0; r < rows; r++)
                {
                    int y = scores.ArgMax(r);
                    witness[y] ??= prompts[r];
                }
            }
        }
        return new ExactReachableSet(witness, maxLength, total);
    }

    // Prompt number `index` of the given length in lexicographic order of the allowed tokens (the first position most significant).
    static int[] Decode(long index, int length, IReadOnlyList<int> allowed)
    {
        var u = new int[length];
        for (int i = length - 1; i >= 0; i--)
        {
            u[i] = allowed[(int)(index % allowed.Count)];
            index /= allowed.Count;
        }
        return u;
    }
}
