namespace Engine.Peft.Orthogonal;

/// <summary>
/// BOFT's butterfly permutations (PEFT's <c>block_butterfly_perm</c>, boft/layer.py), as index lists p with
/// (P v)_i = v[p_i] (PEFT's <c>perm2mat</c>: P[i, p_i] = 1). Factor k of m + 1 over width n with D blocks of size b:
/// the identity for k = 0 (and whenever m = 0); otherwise the width is cut into D / 2^k groups of n·2^k / D entries, and
/// inside each group the chunks of b / 2 entries are reordered even chunks first, then odd ones. Example n = 16, b = 2:
/// k = 1 gives [0, 2, 1, 3, 4, 6, 5, 7, …], k = 2 gives [0, 2, 4, 6, 1, 3, 5, 7, 8, 10, …] (spec section B).
/// </summary>
public static class BoftButterfly
{
    /// <summary>
    /// PEFT's <c>block_butterfly_perm(n, groups, chunk, m)</c>: the identity when <paramref name="m"/> = 0; otherwise each
    /// of <paramref name="groups"/> groups of n / groups entries has its chunks of <paramref name="chunk"/> entries
    /// reordered even, then odd.
    /// </summary>
    /// <exception cref="ArgumentException">groups x chunk x 2 exceeds n (PEFT's "Invalid number of blocks").</exception>
    public static int[] Permutation(int n, int groups, int chunk, int m)
    {
        var p = Enumerable.Range(0, n).ToArray();
        if (m == 0) return p;
        if (groups * chunk * 2 > n) throw new ArgumentException($"BoftButterfly: invalid number of blocks ({groups} groups of chunks of {chunk} in {n})");
        int size = n / groups, chunks = size / chunk;
        var order = new List<int>();
        for (int c = 0; c < chunks; c += 2) order.Add(c);
        for (int c = 1; c < chunks; c += 2) order.Add(c);
        var within = new int[size];
        for (int i = 0; i < order.Count; i++)
            for (int j = 0; j < chunk; j++) within[i * chunk + j] = order[i] * chunk + j;
        for (int start = 0; start + size <= n; start += size)
            for (int j = 0; j < size; j++) p[start + j] = start + within[j];
        return p;
    }

    /// <summary>The permutations of factors 0 .. <paramref name="m"/> for width <paramref name="n"/>, <paramref name="blockNum"/> blocks of <paramref name="blockSize"/>.</summary>
    public static int[][] Factors(int n, int blockNum, int blockSize, int m) =>
        Enumerable.Range(0, m + 1).Select(k => Permutation(n, blockNum >> k, blockSize / 2, m)).ToArray();
}
