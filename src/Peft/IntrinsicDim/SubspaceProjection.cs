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

/// <summary>
/// Dense P: entries N(0, 1) drawn row-major [D, d] (counter i·d + j), each column then scaled to unit length (the
/// spec; the reference's per-layer blocks are unnormalised, the paper describes unit columns). One matrix product.
/// </summary>
public sealed class DenseProjection : SubspaceProjection
{
    /// <summary>Draws P.</summary>
    public DenseProjection(IReadOnlyList<long> sizes, int dimension, ulong seed, DType dtype) : base(sizes, dimension)
    {
        var p = Tensor.Randn([(int)Coordinates, dimension], 0, 1, DType.Float64, new Generator(seed));
        Matrix = (p / p.Norm(2, [0], keepDim: true)).To(dtype);
    }

    /// <summary>P [D, d].</summary>
    public Tensor Matrix { get; }

    /// <inheritdoc/>
    public override Tensor Apply(Tensor theta) => On(theta.Device, [Matrix])[0].To(theta.DType).MatMul(theta.Unsqueeze(-1)).Squeeze(-1);
}

/// <summary>
/// Sparse P, the engine's reading of the reference's sklearn <c>SparseRandomProjection</c> per layer (density
/// 1/√D_layer, entries ±c) followed by normalising each direction over the whole model: for each layer of D_l entries
/// and each direction j, k_l = max(1, round(√D_l)) entries (the expected count of the density) at rows drawn uniformly
/// (with replacement; repeats add) with signs ±1, then each column of P scaled to unit length. Draws, per layer in
/// order: d·k_l uniforms for the rows (row = ⌊u D_l⌋), then d·k_l uniforms for the signs (u &lt; 0.5 gives -1); entry
/// j·k_l + m belongs to direction j. P θ is a gather of θ and an index-add into D zeros.
/// </summary>
public sealed class SparseProjection : SubspaceProjection
{
    /// <summary>Draws the support and the signs and normalises the columns.</summary>
    public SparseProjection(IReadOnlyList<long> sizes, int dimension, ulong seed, DType dtype) : base(sizes, dimension)
    {
        var generator = new Generator(seed);
        var rows = new List<long>();
        var cols = new List<long>();
        var signs = new List<double>();
        var norm2 = new double[dimension];
        long offset = 0;
        foreach (long size in sizes)
        {
            int k = (int)Math.Max(1, Math.Round(Math.Sqrt(size)));
            var rowDraws = Tensor.Rand([dimension * k], 0, 1, DType.Float64, generator).ToArray<double>();
            var signDraws = Tensor.Rand([dimension * k], 0, 1, DType.Float64, generator).ToArray<double>();
            for (int j = 0; j < dimension; j++)
            {
                // Column j's length over this layer, with repeated rows added first (layers never share rows).
                var sums = new Dictionary<long, double>();
                for (int e = j * k; e < (j + 1) * k; e++)
                {
                    long row = offset + Math.Min((long)(rowDraws[e] * size), size - 1);
                    double sign = signDraws[e] < 0.5 ? -1 : 1;
                    rows.Add(row);
                    cols.Add(j);
                    signs.Add(sign);
                    sums[row] = sums.GetValueOrDefault(row) + sign;
                }
                norm2[j] += sums.Values.Sum(v => v * v);
            }
            offset += size;
        }
        var values = signs.Select((s, e) => norm2[cols[e]] > 0 ? s / Math.Sqrt(norm2[cols[e]]) : 0).ToArray();
        Rows = Tensor.FromArray(rows.ToArray());
        Columns = Tensor.FromArray(cols.ToArray());
        Values = Tensor.FromArray(values).To(dtype);
    }

    /// <summary>Row (coordinate of θ^(D)) of each stored entry.</summary>
    public Tensor Rows { get; }

    /// <summary>Column (coordinate of θ^(d)) of each stored entry.</summary>
    public Tensor Columns { get; }

    /// <summary>Value of each stored entry (repeated (row, column) pairs add).</summary>
    public Tensor Values { get; }

    /// <inheritdoc/>
    public override Tensor Apply(Tensor theta)
    {
        var t = On(theta.Device, [Rows, Columns, Values]);
        return Tensor.Zeros([(int)Coordinates], theta.DType, theta.Device).IndexAdd(0, t[0], theta.IndexSelect(0, t[1]) * t[2].To(theta.DType));
    }
}

/// <summary>
/// Fastfood P (the reference's <c>tf_fastfood_transform</c>): θ^(d) zero-padded to L = 2^⌈log2 D⌉, then
/// z = H (G ⊙ Π(H (B ⊙ θ))) with H the unnormalised Walsh–Hadamard transform (<see cref="Tensor.Fwht"/>), B ±1,
/// Π a permutation (z'[i] = z[Π[i]], the reference's gather) and G ~ N(0, 1); the output is z[:D] / (√(L ΣG²) √(D/L)),
/// so that every column has length ≈ 1. Draws, in order: L uniforms for B (u &lt; 0.5 gives -1), L uniforms whose
/// ascending order is Π, L normals for G.
/// </summary>
public sealed class FastfoodProjection : SubspaceProjection
{
    /// <summary>Draws B, Π and G.</summary>
    public FastfoodProjection(IReadOnlyList<long> sizes, int dimension, ulong seed, DType dtype) : base(sizes, dimension)
    {
        Length = (int)Math.Max(1, 1L << (int)Math.Ceiling(Math.Log2(Coordinates)));
        while (Length < Coordinates) Length *= 2; // rounding of Log2 near powers of two
        var generator = new Generator(seed);
        var b = Tensor.Rand([Length], 0, 1, DType.Float64, generator).ToArray<double>().Select(u => u < 0.5 ? -1.0 : 1.0).ToArray();
        var keys = Tensor.Rand([Length], 0, 1, DType.Float64, generator).ToArray<double>();
        var order = Enumerable.Range(0, Length).Select(i => (long)i).ToArray();
        Array.Sort(keys, order);
        var g = Tensor.Randn([Length], 0, 1, DType.Float64, generator).ToArray<double>();
        Divisor = Math.Sqrt(Length * g.Sum(v => v * v)) * Math.Sqrt((double)Coordinates / Length);
        Signs = Tensor.FromArray(b).To(dtype);
        Permutation = Tensor.FromArray(order);
        Gaussian = Tensor.FromArray(g).To(dtype);
    }

    /// <summary>L = 2^⌈log2 D⌉.</summary>
    public int Length { get; }

    /// <summary>B [L], ±1.</summary>
    public Tensor Signs { get; }

    /// <summary>Π [L] (Int64).</summary>
    public Tensor Permutation { get; }

    /// <summary>G [L].</summary>
    public Tensor Gaussian { get; }

    /// <summary>√(L ΣG²) √(D/L).</summary>
    public double Divisor { get; }

    /// <inheritdoc/>
    public override Tensor Apply(Tensor theta)
    {
        var t = On(theta.Device, [Signs, Permutation, Gaussian]);
        var padded = Dimension < Length ? theta.Pad([0, Length - Dimension]) : theta;
        var mixed = (padded * t[0].To(theta.DType)).Fwht().IndexSelect(0, t[1]) * t[2].To(theta.DType);
        return mixed.Fwht().Narrow(0, 0, (int)Coordinates) / Divisor;
    }
}
