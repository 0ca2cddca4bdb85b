namespace Engine.Nn;

/// <summary>
/// How randomized parameter sharing maps each weight to a cell of the shared memory z ∈ R^m (spec adapters-other.md
/// §16, structure-and-optimizers.md 1.5; apd10/FakeRoast <c>Mapper_v2.py</c>). ℓ = offset_l + k is a weight's global
/// location: the layer's offset in the concatenation of every roasted weight plus its row-major index.
/// </summary>
public enum RpsMapper
{
    /// <summary>
    /// STABLE-RPS (the default; FakeRoast's <c>ParetoCyclicMapper</c>): c = ⌊ℓ/m⌋, h = (hash1(c) + ℓ − c·m) mod m.
    /// Each length-m partition of the locations is a cyclic shift of z, so every cell serves ⌊n/m⌋ or ⌈n/m⌉ weights
    /// and m ≥ n is a bijection (zero compression recovers the model).
    /// </summary>
    RandomFold,

    /// <summary>HashedNet (Chen et al. 2015; <c>HashedNetMapper</c>): h = hash1(ℓ) mod m, element by element.</summary>
    HashedNet,

    /// <summary>
    /// ROAST (<c>RoastMapper.get_mlp_idx</c>): 16×16 tiles of the transposed weight [in, out], tile (r, c) starting at
    /// hash2(r + offset, c + offset + in) mod (m − 256), element (i, j) at start + (i mod 16)·16 + (j mod 16):
    /// contiguous memory per tile (cache-friendly). Needs m &gt; 256.
    /// </summary>
    RoastTiles,
}

/// <summary>The index maps of <see cref="RpsMapper"/> and the signs g ∈ {±1}.</summary>
public static class RpsMapping
{
    /// <summary>ROAST's tile side (the reference's block_k = block_n = 16).</summary>
    public const int Tile = 16;

    /// <summary>
    /// The memory cell of each element of a weight [<paramref name="rows"/>, <paramref name="cols"/>] (row-major) whose
    /// first element has global location <paramref name="offset"/>, in a memory of <paramref name="memory"/> cells.
    /// </summary>
    /// <exception cref="ArgumentException">The memory is empty, or too small for ROAST's tiles.</exception>
    public static long[] Indices(RpsMapper mapper, UniversalHash hash, long offset, int rows, int cols, long memory)
    {
        if (memory < 1) throw new ArgumentException($"RpsMapping: the memory must have at least one cell, got {memory}");
        var idx = new long[(long)rows * cols];
        switch (mapper)
        {
            case RpsMapper.RandomFold:
                for (long k = 0; k < idx.LongLength; k++)
                {
                    long l = offset + k, chunk = l / memory;
                    idx[k] = (hash.Hash1(chunk, memory) + l - chunk * memory) % memory;
                }
                break;
            case RpsMapper.HashedNet:
                for (long k = 0; k < idx.LongLength; k++) idx[k] = hash.Hash1(offset + k, memory);
                break;
            case RpsMapper.RoastTiles:
                if (memory <= Tile * Tile)
                    throw new ArgumentException($"RpsMapping: ROAST tiles need a memory larger than {Tile * Tile} cells, got {memory}");
                // Transposed view T [cols, rows]: T[i, j] = W[j, i]; the reference hashes tiles of T.
                for (int j = 0; j < rows; j++)
                    for (int i = 0; i < cols; i++)
                    {
                        long start = hash.Hash2(i / Tile + offset, j / Tile + offset + cols, memory - Tile * Tile);
                        idx[(long)j * cols + i] = start + (i % Tile) * Tile + (j % Tile);
                    }
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(mapper));
        }
        return idx;
    }

    /// <summary>
    /// The sign g = 2·(hash1(ℓ) mod 2) − 1 of each of <paramref name="count"/> locations from <paramref name="offset"/>
    /// (the reference's <c>get_general_g</c> form; FakeRoast's module draws G with torch's generator instead).
    /// </summary>
    public static sbyte[] Signs(UniversalHash hash, long offset, long count)
    {
        var g = new sbyte[count];
        for (long k = 0; k < count; k++) g[k] = (sbyte)(2 * hash.Hash1(offset + k, 2) - 1);
        return g;
    }
}
