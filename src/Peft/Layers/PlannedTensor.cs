namespace Engine.Peft;

/// <summary>
/// A tensor an adapter will hold, known from its configuration and the model before anything is allocated: the file
/// key (a layer's suffix such as <c>lora_A.weight</c>, or the full key once <see cref="PeftModel"/> has placed it) and
/// the shape. Loading compares these with a file's header, so a config that asks for a rank of a million is rejected
/// before a byte of the adapter exists.
/// </summary>
/// <param name="Key">The file key.</param>
/// <param name="Shape">The shape.</param>
public sealed record PlannedTensor(string Key, int[] Shape)
{
    /// <summary>
    /// The tensor holds integers (positions, indices: FourierFT's spectrum, VB-LoRA's top-k), which files store as
    /// I64/I32/I16/U8 and the adapter as Int64 or Int32; a float tensor under this key is refused, and so is an integer
    /// tensor under a float key.
    /// </summary>
    public bool Integer { get; init; }

    /// <summary>
    /// For an integer tensor that indexes something of this length: every value must lie in [0, bound), checked when
    /// a file is loaded (a hostile index would otherwise read outside a tensor). Null: no bound.
    /// </summary>
    public long? IndexBound { get; init; }

    /// <summary>
    /// For an integer tensor whose rows index different lengths (SHiRA's <c>shira_indices</c> [2, k]: row 0 indexes
    /// the output features, row 1 the input features): every value of row i must lie in [0, RowIndexBounds[i]),
    /// checked when a file is loaded, as <see cref="IndexBound"/>. Null: no per-row bounds.
    /// </summary>
    public IReadOnlyList<long>? RowIndexBounds { get; init; }

    /// <summary>
    /// PEFT does not always save this tensor (it rebuilds it from the config, e.g. from the base weight's SVD): a file
    /// without it loads, and the adapter keeps the value it built; a file with it must give the planned shape.
    /// </summary>
    public bool RecomputedIfMissing { get; init; }
}
