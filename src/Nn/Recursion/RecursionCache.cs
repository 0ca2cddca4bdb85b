namespace Engine.Nn;

/// <summary>
/// What the recursive section of a <see cref="MorGpt"/> keeps for incremental decoding (Bae et al. 2025, section 2.3;
/// spec structure-and-optimizers.md 1.2), one entry of the model's <see cref="KvCache"/>:
/// <list type="bullet">
/// <item>recursion-wise caching: per step r and shared layer b, the keys and values of the tokens step r processed,
/// with a validity flag per slot and row (a row that skips a token while another row keeps it stores a hidden
/// placeholder; with one row only kept tokens are stored);</item>
/// <item>recursive sharing: only step 0's keys and values (every token), which later steps read.</item>
/// </list>
/// </summary>
public sealed class RecursionCache : IMixerState
{
    readonly LayerKvCache[][] _kv;
    readonly List<bool>[]?[] _valid;

    /// <summary>An empty cache for <paramref name="steps"/> recursions of <paramref name="layers"/> shared blocks.</summary>
    public RecursionCache(int steps, int layers)
    {
        _kv = Enumerable.Range(0, steps).Select(_ => Enumerable.Range(0, layers).Select(_ => new LayerKvCache()).ToArray()).ToArray();
        _valid = new List<bool>[]?[steps];
    }

    /// <summary>Positions consumed so far.</summary>
    public int Length { get; private set; }

    /// <summary>The keys and values of shared layer <paramref name="layer"/> at step <paramref name="step"/>.</summary>
    public LayerKvCache this[int step, int layer] => _kv[step][layer];

    /// <summary>Slots stored for step <paramref name="step"/> (real or placeholder).</summary>
    public int Slots(int step) => _kv[step][0].Length;

    /// <summary>Whether slot <paramref name="slot"/> of row <paramref name="row"/> at step <paramref name="step"/> holds a real token.</summary>
    public bool IsValid(int step, int row, int slot) => _valid[step] is not { } v || v[row][slot];

    /// <summary>Whether step <paramref name="step"/> holds any placeholder.</summary>
    public bool HasPlaceholders(int step) => _valid[step] is { } v && v.Any(r => r.Contains(false));

    internal void AppendSlots(int step, RecursionSelection selection)
    {
        var v = _valid[step] ??= Enumerable.Range(0, selection.Batch).Select(_ => new List<bool>()).ToArray();
        if (v.Length != selection.Batch)
            throw new ArgumentException($"RecursionCache: the cache holds {v.Length} rows, the input has {selection.Batch}");
        for (int b = 0; b < selection.Batch; b++)
            for (int i = 0; i < selection.Slots; i++) v[b].Add(selection.Valid[b * selection.Slots + i]);
    }

    internal void Advance(int positions) => Length += positions;
}
