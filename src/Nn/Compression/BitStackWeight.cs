namespace Engine.Nn.Compression;

/// <summary>
/// A weight matrix decomposed by <see cref="BitStackDecomposition"/>: its blocks in order (each one removes part of the
/// residual left by those before it), so any prefix of n_l blocks gives W ≈ Σ_{i≤n_l} Ŵ_i (spec adapters-other.md §17).
/// </summary>
/// <param name="Name">The weight's state-dict name (<c>blocks.0.attn.qkv.weight</c>).</param>
/// <param name="Rows">Output features.</param>
/// <param name="Cols">Input features.</param>
/// <param name="Blocks">The blocks, first to last.</param>
/// <param name="ResidualNorms">
/// ‖R_i‖_F for i = 0..n computed with the exact (unrounded) factors while decomposing, R_0 = W; empty for a weight read
/// back from a file.
/// </param>
public sealed record BitStackWeight(string Name, int Rows, int Cols, IReadOnlyList<BitStackBlock> Blocks, IReadOnlyList<double> ResidualNorms)
{
    /// <summary>Bytes of one block (every block of a weight has the same size).</summary>
    public long BytesPerBlock => Blocks[0].StoredBytes;

    /// <summary>Σ_{i≤count} Ŵ_i as a Float32 tensor [rows, cols].</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="count"/> is not between 1 and the number of blocks.</exception>
    public Tensor Reconstruct(int count)
    {
        if (count < 1 || count > Blocks.Count)
            throw new ArgumentOutOfRangeException(nameof(count), $"BitStackWeight.Reconstruct: '{Name}' has {Blocks.Count} blocks; asked for {count}");
        var w = new double[Rows * Cols];
        for (int i = 0; i < count; i++) Blocks[i].AddTo(w);
        return Tensor.FromArray(Array.ConvertAll(w, v => (float)v), [Rows, Cols]);
    }
}
