namespace Engine.Nn;

/// <summary>
/// The tokens one Mixture-of-Recursions step processes, per batch row, as a padded gather (Bae et al. 2025, section 2.2;
/// spec structure-and-optimizers.md 1.2). Each row's kept positions are sorted ascending, so causal order over the
/// gathered slots is causal order over positions (the reference sorts its top-k indices for this reason,
/// <c>expert_choice_router.py</c>). Rows that keep fewer than <see cref="Slots"/> tokens are padded with position 0 and
/// marked invalid; the model gives padded slots zero weight and hides them from every real query.
/// </summary>
public sealed class RecursionSelection
{
    readonly long[] _index;

    /// <summary>A selection of <paramref name="kept"/>[b] (positions in 0..<paramref name="length"/>−1) for each row b.</summary>
    /// <exception cref="ArgumentException">A row's positions are out of range or not strictly ascending.</exception>
    public RecursionSelection(int[][] kept, int length)
    {
        for (int b = 0; b < kept.Length; b++)
            for (int i = 0; i < kept[b].Length; i++)
                if (kept[b][i] < 0 || kept[b][i] >= length || (i > 0 && kept[b][i] <= kept[b][i - 1]))
                    throw new ArgumentException($"RecursionSelection: row {b} must hold strictly ascending positions in [0, {length}), got [{string.Join(", ", kept[b])}]");
        Kept = kept;
        Length = length;
        Slots = kept.Length == 0 ? 0 : kept.Max(r => r.Length);
        _index = new long[Batch * Slots];
        Valid = new bool[Batch * Slots];
        for (int b = 0; b < Batch; b++)
            for (int i = 0; i < kept[b].Length; i++)
            {
                _index[b * Slots + i] = kept[b][i];
                Valid[b * Slots + i] = true;
            }
    }

    /// <summary>Every position of every row.</summary>
    public static RecursionSelection AllOf(int batch, int length) =>
        new(Enumerable.Range(0, batch).Select(_ => Enumerable.Range(0, length).ToArray()).ToArray(), length);

    /// <summary>The kept positions of each row, ascending.</summary>
    public int[][] Kept { get; }

    /// <summary>Number of rows.</summary>
    public int Batch => Kept.Length;

    /// <summary>Number of positions the selection picks from.</summary>
    public int Length { get; }

    /// <summary>Slots per row after padding: the largest row count.</summary>
    public int Slots { get; }

    /// <summary>[Batch × Slots]: true at real slots, false at padding.</summary>
    public bool[] Valid { get; }

    /// <summary>Some row keeps fewer tokens than another.</summary>
    public bool Padded => Valid.Any(v => !v);

    /// <summary>Every row keeps every position: gathering is the identity.</summary>
    public bool All => Slots == Length && !Padded;

    /// <summary>True when position <paramref name="position"/> of row <paramref name="row"/> is kept.</summary>
    public bool Contains(int row, int position) => Array.BinarySearch(Kept[row], position) >= 0;

    /// <summary>The gather indices [Batch, Slots] (Int64; padding is position 0).</summary>
    public Tensor Index(Device device) => Tensor.FromArray(_index, [Batch, Slots]).To(device);

    /// <summary>[Batch, Slots, 1] of 1 at real slots and 0 at padding, in <paramref name="dtype"/>.</summary>
    public Tensor ValidMask(DType dtype, Device device) =>
        Tensor.FromArray(Valid.Select(v => v ? 1.0 : 0.0).ToArray(), [Batch, Slots, 1]).To(dtype).To(device);

    /// <summary>[Batch, Slots, 1] of 1 at real slots whose position satisfies <paramref name="keep"/>(row, position), else 0.</summary>
    public Tensor SlotMask(Func<int, int, bool> keep, DType dtype, Device device)
    {
        var m = new double[Batch * Slots];
        for (int b = 0; b < Batch; b++)
            for (int i = 0; i < Kept[b].Length; i++)
                m[b * Slots + i] = keep(b, Kept[b][i]) ? 1 : 0;
        return Tensor.FromArray(m, [Batch, Slots, 1]).To(dtype).To(device);
    }

    /// <summary>Rows of <paramref name="h"/> [Batch, Length, C] at the slots: [Batch, Slots, C].</summary>
    public Tensor Gather(Tensor h)
    {
        Check(h, nameof(Gather));
        return All ? h : h.Gather(1, ExpandedIndex(h));
    }

    /// <summary>A per-position value [Batch, Length] at the slots: [Batch, Slots, 1].</summary>
    public Tensor GatherValues(Tensor values)
    {
        if (values.Rank != 2 || values.Size(0) != Batch || values.Size(1) != Length)
            throw new ArgumentException($"RecursionSelection.GatherValues: expects [{Batch}, {Length}], got {Shapes.Format(values.Shape)}");
        return values.Gather(1, Index(values.Device)).Unsqueeze(-1);
    }

    /// <summary><paramref name="h"/> [Batch, Length, C] with <paramref name="source"/> [Batch, Slots, C] added at the slots' positions.</summary>
    public Tensor ScatterAdd(Tensor h, Tensor source)
    {
        Check(h, nameof(ScatterAdd));
        return h.ScatterAdd(1, ExpandedIndex(h), source);
    }

    Tensor ExpandedIndex(Tensor h) => Index(h.Device).Unsqueeze(-1).Expand(Batch, Slots, h.Size(2));

    void Check(Tensor h, string op)
    {
        if (h.Rank != 3 || h.Size(0) != Batch || h.Size(1) != Length)
            throw new ArgumentException($"RecursionSelection.{op}: expects [{Batch}, {Length}, C], got {Shapes.Format(h.Shape)}");
    }
}
