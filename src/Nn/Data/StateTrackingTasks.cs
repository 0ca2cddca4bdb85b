namespace Engine.Nn;

/// <summary>
/// Synthetic state-tracking tasks of the DeltaProduct paper (Siems et al. 2025, section 5): each position's label
/// is the state after reading the prefix, so a model must carry the state through the whole sequence.
/// </summary>
public static class StateTrackingTasks
{
    /// <summary>Parity: tokens are bits 0/1; label t is the XOR of tokens 0..t (2 classes).</summary>
    public static (long[] Tokens, long[] Labels) Parity(int length, Generator generator)
    {
        var bits = Tensor.Randint(0, 2, [length], generator: generator).ToArray<long>();
        var labels = new long[length];
        long acc = 0;
        for (int t = 0; t < length; t++) labels[t] = acc ^= bits[t];
        return (bits, labels);
    }

    /// <summary>The 6 permutations of {0, 1, 2}, by index; S3 tokens and labels are these indices.</summary>
    public static readonly int[][] S3Elements = [[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]];

    /// <summary>The index of the composition "first a, then b" of two S3 elements.</summary>
    public static int Compose(int a, int b)
    {
        var (pa, pb) = (S3Elements[a], S3Elements[b]);
        int[] c = [pb[pa[0]], pb[pa[1]], pb[pa[2]]];
        return Array.FindIndex(S3Elements, e => e.SequenceEqual(c));
    }

    /// <summary>The S3 word problem: tokens are permutations; label t is the product of tokens 0..t (6 classes).</summary>
    public static (long[] Tokens, long[] Labels) S3(int length, Generator generator)
    {
        var tokens = Tensor.Randint(0, 6, [length], generator: generator).ToArray<long>();
        var labels = new long[length];
        int acc = 0; // identity
        for (int t = 0; t < length; t++) labels[t] = acc = Compose(acc, (int)tokens[t]);
        return (tokens, labels);
    }

    /// <summary>A batch [batch, length] of tokens and labels from one of the task functions.</summary>
    public static (Tensor Tokens, Tensor Labels) Batch(Func<int, Generator, (long[], long[])> task, int batch, int length, Generator generator)
    {
        var tokens = new long[batch * length];
        var labels = new long[batch * length];
        for (int b = 0; b < batch; b++)
        {
            var (x, y) = task(length, generator);
            x.CopyTo(tokens, b * length);
            y.CopyTo(labels, b * length);
        }
        return (Tensor.FromArray(tokens, [batch, length]), Tensor.FromArray(labels, [batch, length]));
    }
}
