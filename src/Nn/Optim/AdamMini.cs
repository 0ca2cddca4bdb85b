namespace Engine.Nn;

/// <summary>
/// Adam-mini (Zhang et al. 2024, "Adam-mini: Use Fewer Learning Rates To Gain More"), as structure-and-optimizers.md
/// §3.1 and levanter <c>src/levanter/optim/adam_mini.py</c>: Adam with one second moment per block,
/// <c>v_b ← β2 v_b + (1−β2)·mean_{block}(g²)</c>. A matrix parameter's blocks are consecutive groups of rows: by
/// default one row each (a Linear's output neuron, an embedding's token), or the partition given for it in
/// <c>rowBlocks</c> (the attention heads of Q and K: <see cref="AttentionBlocks"/>); other parameters (norm gains,
/// biases) keep one moment per entry, as levanter routes them to plain AdamW. Defaults: levanter's (β = (0.9, 0.95),
/// ε 1e-8). Slots <c>exp_avg</c> (parameter-shaped) and <c>exp_avg_sq</c> (one entry per block for matrices).
/// </summary>
public sealed class AdamMini : DecoupledOptimizer
{
    readonly Dictionary<Tensor, int[]> _rowBlocks = new(ReferenceEqualityComparer.Instance);
    readonly Dictionary<Tensor, (Tensor Average, Tensor Expand)> _maps = new(ReferenceEqualityComparer.Instance);

    /// <param name="rowBlocks">For a matrix parameter, the sizes of its consecutive row blocks (summing to its rows).</param>
    public AdamMini(IEnumerable<ParamGroup> groups, IReadOnlyDictionary<Tensor, int[]>? rowBlocks = null, double beta1 = 0.9, double beta2 = 0.95, double eps = 1e-8) : base(groups)
    {
        OptimizerArguments.Beta("AdamMini", "beta1", beta1);
        OptimizerArguments.Beta("AdamMini", "beta2", beta2);
        Beta1 = beta1;
        Beta2 = beta2;
        Eps = eps;
        var all = new HashSet<Tensor>(Groups.SelectMany(g => g.Parameters), ReferenceEqualityComparer.Instance);
        foreach (var (p, sizes) in rowBlocks ?? new Dictionary<Tensor, int[]>())
        {
            if (!all.Contains(p)) throw new ArgumentException($"AdamMini: a row partition is given for a tensor of shape {Shapes.Format(p.Shape)} that no group optimises");
            if (p.Rank != 2 || sizes.Length == 0 || sizes.Any(s => s <= 0) || sizes.Sum() != p.Shape[0])
                throw new ArgumentException($"AdamMini: the row blocks [{string.Join(", ", sizes)}] do not partition the rows of a parameter of shape {Shapes.Format(p.Shape)}");
            _rowBlocks[p] = sizes.ToArray();
        }
    }

    public double Beta1 { get; }
    public double Beta2 { get; }
    public double Eps { get; }

    /// <summary>
    /// Blocks of a fused QKV weight with rows [Q: heads·headDim, K: kvHeads·headDim, V: kvHeads·headDim]: one block per
    /// head for Q and K, one per row (output neuron) for V, Adam-mini's partition (levanter: <c>query</c>/<c>key</c> per
    /// head, <c>value</c> per neuron).
    /// </summary>
    public static int[] AttentionBlocks(int heads, int kvHeads, int headDim)
    {
        if (heads <= 0 || kvHeads <= 0 || headDim <= 0) throw new ArgumentException($"AdamMini.AttentionBlocks: heads {heads}, kvHeads {kvHeads} and headDim {headDim} must be positive");
        return [.. Enumerable.Repeat(headDim, heads + kvHeads), .. Enumerable.Repeat(1, kvHeads * headDim)];
    }

    int[] BlocksOf(Tensor p) => _rowBlocks.TryGetValue(p, out var b) ? b : Enumerable.Repeat(1, p.Shape[0]).ToArray();

    public override int[] SlotShape(Tensor parameter, string slot) =>
        slot == "exp_avg_sq" && parameter.Rank == 2 ? [BlocksOf(parameter).Length] : parameter.Shape;

    public override Tensor Direction(ParamGroup group, Tensor parameter, Tensor grad, Dictionary<string, Tensor> state, long step)
    {
        if (parameter.Rank != 2) return AdamMoments.Direction(state, grad, Beta1, Beta2, Eps, step);
        // Block means of g² as (averaging matrix) · (row means), and back to rows by a one-hot expansion: plain
        // matrix products, so the same code runs on any device.
        var (average, expand) = Maps(parameter);
        var blockSquares = average.MatMul(grad.Square().Mean(1, keepDim: true)).Reshape(average.Shape[0]);
        var m = state.TryGetValue("exp_avg", out var m1) ? m1 * Beta1 + grad * (1 - Beta1) : grad * (1 - Beta1);
        var v = state.TryGetValue("exp_avg_sq", out var v1) ? v1 * Beta2 + blockSquares * (1 - Beta2) : blockSquares * (1 - Beta2);
        state["exp_avg"] = m;
        state["exp_avg_sq"] = v;
        double c1 = 1 - Math.Pow(Beta1, step), c2 = 1 - Math.Pow(Beta2, step);
        var rowDenominator = expand.MatMul(((v / c2).Sqrt() + Eps).Reshape(v.Shape[0], 1));
        return m / c1 / rowDenominator;
    }

    (Tensor Average, Tensor Expand) Maps(Tensor p)
    {
        if (_maps.TryGetValue(p, out var maps)) return maps;
        var sizes = BlocksOf(p);
        int rows = p.Shape[0], blocks = sizes.Length;
        var average = new double[blocks * rows];
        var expand = new double[rows * blocks];
        for (int b = 0, row = 0; b < blocks; row += sizes[b], b++)
            for (int r = row; r < row + sizes[b]; r++)
            {
                average[b * rows + r] = 1.0 / sizes[b];
                expand[r * blocks + b] = 1;
            }
        maps = (Tensor.FromArray(average, [blocks, rows]).To(p.DType).To(p.Device), Tensor.FromArray(expand, [rows, blocks]).To(p.DType).To(p.Device));
        return _maps[p] = maps;
    }
}
