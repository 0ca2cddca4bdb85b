namespace Engine.Peft.IntrinsicDim;

/// <summary>
/// The frozen random map P [D, d] of intrinsic-dimension training (Li et al. 2018, arXiv 1804.08838; reference
/// uber-research/intrinsic-dimension <c>keras_ext/rproj_layers_util.py</c>; spec structure-and-optimizers.md §4.1):
/// θ^(D) = θ0 + P θ^(d). P is never saved: it is drawn again from <c>projection_seed</c> with the engine's
/// <see cref="Generator"/> (Philox, counters from 0), so a file needs only θ^(d), the seed and the kind.
/// <see cref="Apply"/> is built from differentiable ops, so the gradient of θ^(d) is Pᵀ times that of θ^(D).
/// The D coordinates are the targeted weights, one after another, each row-major [out, in].
/// </summary>
public abstract class SubspaceProjection
{
    /// <summary>Dense Gaussian P with unit columns (memory D·d).</summary>
    public const string Dense = "dense";
    /// <summary>Sparse random projection with unit columns (memory ≈ d Σ √D_layer).</summary>
    public const string Sparse = "sparse";
    /// <summary>Fastfood: H G Π H B on the padded θ^(d) (memory O(D), time O(D log D)).</summary>
    public const string Fastfood = "fastfood";

    /// <summary>Every kind, the default first.</summary>
    public static readonly string[] Kinds = [Fastfood, Dense, Sparse];

    /// <summary>The most entries D·d a dense P may have (256 MiB of Float32).</summary>
    public const long DenseLimit = 1L << 26;

    /// <summary>The largest D (the Fastfood length 2^⌈log2 D⌉ must fit one tensor dimension).</summary>
    public const long MaxCoordinates = 1L << 30;

    /// <summary>Checks the sizes and records them.</summary>
    protected SubspaceProjection(IReadOnlyList<long> sizes, int dimension)
    {
        Sizes = sizes;
        Coordinates = sizes.Sum();
        Dimension = dimension;
    }

    /// <summary>The number of entries of each targeted weight, in order.</summary>
    public IReadOnlyList<long> Sizes { get; }

    /// <summary>D: all targeted entries.</summary>
    public long Coordinates { get; }

    /// <summary>d: the trained coordinates.</summary>
    public int Dimension { get; }

    /// <summary>P θ [D] for θ [d], in θ's dtype and on its device, differentiable in θ.</summary>
    public abstract Tensor Apply(Tensor theta);

    /// <summary>
    /// The projection of <paramref name="kind"/> for weights of <paramref name="sizes"/> entries and d =
    /// <paramref name="dimension"/>, drawn from <paramref name="seed"/>; its tensors are kept in <paramref name="dtype"/>.
    /// </summary>
    public static SubspaceProjection Create(string kind, IReadOnlyList<long> sizes, int dimension, ulong seed, DType dtype)
    {
        Check(kind, sizes.Sum(), dimension);
        return kind switch
        {
            Fastfood => new FastfoodProjection(sizes, dimension, seed, dtype),
            Dense => new DenseProjection(sizes, dimension, seed, dtype),
            _ => new SparseProjection(sizes, dimension, seed, dtype),
        };
    }

    /// <summary>Refuses a kind, D or d that no projection can be drawn for, naming the limit (draws nothing).</summary>
    public static void Check(string kind, long total, int dimension)
    {
        if (!Kinds.Contains(kind)) throw new ArgumentException($"intrinsic dimension: projection must be one of {string.Join(", ", Kinds)}, got '{kind}'");
        if (total < 1) throw new ArgumentException("intrinsic dimension: the adapter targets no weights");
        if (total > MaxCoordinates) throw new ArgumentException($"intrinsic dimension: {total} targeted weights are more than the {MaxCoordinates} a projection supports");
        if (dimension < 1 || dimension > total)
            throw new ArgumentException($"intrinsic dimension: intrinsic_dim must be between 1 and the {total} targeted weights (D), got {dimension}");
        if (kind == Dense && total * dimension > DenseLimit)
            throw new ArgumentException($"intrinsic dimension: a dense projection of D = {total} by d = {dimension} has {total * dimension} entries, more than {DenseLimit}; use projection \"fastfood\" or \"sparse\", or a smaller intrinsic_dim");
    }

    // The frozen tensors moved to θ's device once and kept there.
    Device? _device;
    Tensor[]? _moved;

    /// <summary><paramref name="tensors"/> on <paramref name="device"/>, moved on first use there.</summary>
    protected Tensor[] On(Device device, Tensor[] tensors)
    {
        if (_moved is null || _device != device)
        {
            _moved = tensors.Select(t => t.To(device)).ToArray();
            _device = device;
        }
        return _moved;
    }
}
