namespace Engine.Peft.IntrinsicDim;

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
