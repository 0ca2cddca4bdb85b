namespace Engine.Nn;

/// <summary>
/// SOAP (Vyas et al. 2024, "SOAP: Improving and Stabilizing Shampoo using Adam"): Adam run in the eigenbasis of
/// Shampoo's preconditioners, as structure-and-optimizers.md §3.1 and levanter <c>src/levanter/optim/soap.py</c>
/// (origin nikhilvyas/SOAP) arrange it. Each matrix parameter is cut into blocks of at most
/// <see cref="BlockSize"/>×<see cref="BlockSize"/> (the last row/column of blocks smaller; levanter zero-pads them,
/// which gives the same update since padded rows and columns stay decoupled); per block G (a×b):
/// <c>L ← β_s L + (1−β_s) G Gᵀ</c>, <c>R ← β_s R + (1−β_s) Gᵀ G</c>. Step 1 only sets L, R and the bases
/// <c>Q_L, Q_R</c> = eigenvectors of <c>L + εI</c>, <c>R + εI</c> by descending eigenvalue (<see cref="Linalg.EighSymmetric"/>)
/// and makes no update. From step 2: <c>m ← β1 m + (1−β1) G</c> (original basis), <c>G' = Q_Lᵀ G Q_R</c>,
/// <c>v ← β2 v + (1−β2) G'²</c> (rotated basis), <c>u = √(1−β2^t)/(1−β1^t) · Q_L (Q_Lᵀ m Q_R / (√v + ε)) Q_Rᵀ</c>
/// (levanter's correction: t counts the first, update-free step, and ε is added to the uncorrected √v — we follow the
/// code, not the spec's m̂/(√v̂+ε)); then L, R take this G, and every <see cref="PreconditionFrequency"/> steps each
/// basis is refreshed by one power step: columns ordered by <c>diag(QᵀLQ)</c> descending (v permuted alike),
/// <c>Q ← qr(L Q)</c> (<see cref="Linalg.Qr"/>). A side whose block dimension exceeds <see cref="MaxPreconditionDim"/>
/// is not rotated. Parameters that are not matrices (norm gains, biases) get plain AdamW, as the task asks (levanter
/// gives them a one-sided preconditioner). Defaults: the paper's tuned 130M values β = (0.95, 0.98), shampoo β 0.95,
/// frequency 1, block 256 (levanter's max dim 10000, ε 1e-8).
/// Slots: <c>exp_avg</c>, <c>exp_avg_sq</c> (the parameter's shape), and per block (i, j) <c>L_i_j</c>, <c>R_i_j</c>,
/// <c>QL_i_j</c>, <c>QR_i_j</c>.
/// </summary>
public sealed class Soap : DecoupledOptimizer
{
    public Soap(IEnumerable<ParamGroup> groups, double beta1 = 0.95, double beta2 = 0.98, double shampooBeta = 0.95, int preconditionFrequency = 1,
        int blockSize = 256, int maxPreconditionDim = 10000, double eps = 1e-8) : base(groups)
    {
        OptimizerArguments.Beta("Soap", "beta1", beta1);
        OptimizerArguments.Beta("Soap", "beta2", beta2);
        OptimizerArguments.Beta("Soap", "shampooBeta", shampooBeta);
        OptimizerArguments.Positive("Soap", "eps", eps);
        if (preconditionFrequency < 1) throw new ArgumentException($"Soap: preconditionFrequency must be >= 1, got {preconditionFrequency}");
        if (blockSize < 1) throw new ArgumentException($"Soap: blockSize must be >= 1, got {blockSize}");
        if (maxPreconditionDim < 0) throw new ArgumentException($"Soap: maxPreconditionDim must be >= 0, got {maxPreconditionDim}");
        Beta1 = beta1;
        Beta2 = beta2;
        ShampooBeta = shampooBeta;
        PreconditionFrequency = preconditionFrequency;
        BlockSize = blockSize;
        MaxPreconditionDim = maxPreconditionDim;
        Eps = eps;
    }

    public double Beta1 { get; }
    public double Beta2 { get; }
    public double ShampooBeta { get; }
    public int PreconditionFrequency { get; }
    public int BlockSize { get; }
    public int MaxPreconditionDim { get; }
    public double Eps { get; }

    /// <summary>Start and length of each block along a dimension of <paramref name="size"/>.</summary>
    IEnumerable<(int Index, int Start, int Length)> Blocks(int size)
    {
        for (int i = 0, start = 0; start < size; i++, start += BlockSize) yield return (i, start, Math.Min(BlockSize, size - start));
    }

    public override int[] SlotShape(Tensor parameter, string slot)
    {
        var parts = slot.Split('_');
        if (parameter.Rank != 2 || parts.Length != 3 || parts[0] is not ("L" or "R" or "QL" or "QR") || !int.TryParse(parts[1], out int i) || !int.TryParse(parts[2], out int j))
            return parameter.Shape;
        int Length(int size, int k) => k >= 0 && (long)k * BlockSize < size ? Math.Min(BlockSize, size - k * BlockSize) : -1;
        int n = parts[0].EndsWith('L') ? Length(parameter.Shape[0], i) : Length(parameter.Shape[1], j);
        bool other = parts[0].EndsWith('L') ? Length(parameter.Shape[1], j) > 0 : Length(parameter.Shape[0], i) > 0;
        return n > 0 && other ? [n, n] : [-1];
    }

    public override Tensor Direction(ParamGroup group, Tensor parameter, Tensor grad, Dictionary<string, Tensor> state, long step)
    {
        if (parameter.Rank != 2) return AdamMoments.Direction(state, grad, Beta1, Beta2, Eps, step);
        var rows = Blocks(parameter.Shape[0]).ToList();
        var cols = Blocks(parameter.Shape[1]).ToList();
        if (step == 1)
        {
            state["exp_avg"] = grad.ZerosLike();
            state["exp_avg_sq"] = grad.ZerosLike();
            foreach (var (i, r0, a) in rows)
                foreach (var (j, c0, b) in cols)
                {
                    var g = grad.Narrow(0, r0, a).Narrow(1, c0, b);
                    UpdateCovariances(state, $"{i}_{j}", g);
                    foreach (var side in new[] { "L", "R" })
                        if (state.TryGetValue($"{side}_{i}_{j}", out var c))
                            state[$"Q{side}_{i}_{j}"] = InitialBasis(c, parameter);
                }
            return grad.ZerosLike();
        }
        var m = state["exp_avg"] * Beta1 + grad * (1 - Beta1);
        state["exp_avg"] = m;
        var v = state["exp_avg_sq"];
        var updateRows = new List<Tensor>();
        var vRows = new List<Tensor>();
        bool refresh = step % PreconditionFrequency == 0;
        foreach (var (i, r0, a) in rows)
        {
            var updateRow = new List<Tensor>();
            var vRow = new List<Tensor>();
            foreach (var (j, c0, b) in cols)
            {
                string key = $"{i}_{j}";
                var g = grad.Narrow(0, r0, a).Narrow(1, c0, b);
                var ql = state.GetValueOrDefault("QL_" + key);
                var qr = state.GetValueOrDefault("QR_" + key);
                var rotated = Project(g, ql, qr);
                var vb = v.Narrow(0, r0, a).Narrow(1, c0, b) * Beta2 + rotated.Square() * (1 - Beta2);
                var normalised = Project(m.Narrow(0, r0, a).Narrow(1, c0, b), ql, qr) / (vb.Sqrt() + Eps);
                updateRow.Add(ProjectBack(normalised, ql, qr));
                UpdateCovariances(state, key, g);
                if (refresh) vb = RefreshBases(state, key, vb);
                vRow.Add(vb);
            }
            updateRows.Add(Tensor.Concat([.. updateRow], 1));
            vRows.Add(Tensor.Concat([.. vRow], 1));
        }
        state["exp_avg_sq"] = Tensor.Concat([.. vRows], 0);
        double correction = Math.Sqrt(1 - Math.Pow(Beta2, step)) / (1 - Math.Pow(Beta1, step));
        return Tensor.Concat([.. updateRows], 0) * correction;
    }

    // L, R ← β_s·(L, R) + (1−β_s)·(G Gᵀ, Gᵀ G), from zero at the first step; a side over MaxPreconditionDim keeps none.
    void UpdateCovariances(Dictionary<string, Tensor> state, string key, Tensor g)
    {
        if (g.Shape[0] <= MaxPreconditionDim) Blend(state, "L_" + key, g.MatMul(g.T));
        if (g.Shape[1] <= MaxPreconditionDim) Blend(state, "R_" + key, g.T.MatMul(g));
    }

    void Blend(Dictionary<string, Tensor> state, string slot, Tensor outer) =>
        state[slot] = state.TryGetValue(slot, out var c) ? c * ShampooBeta + outer * (1 - ShampooBeta) : outer * (1 - ShampooBeta);

    // Eigenvectors of C + εI as columns, largest eigenvalue first (levanter get_orthogonal_matrix).
    Tensor InitialBasis(Tensor c, Tensor parameter)
    {
        int n = c.Shape[0];
        var (_, vectors) = Linalg.EighSymmetric((c + Tensor.Eye(n, dtype: c.DType).To(c.Device) * Eps).To(DType.Float64));
        var descending = Tensor.FromArray(Enumerable.Range(0, n).Reverse().Select(k => (long)k).ToArray());
        return vectors.IndexSelect(1, descending).To(parameter.DType).To(parameter.Device);
    }

    // One power step with QR per side (levanter get_orthogonal_matrix_QR); v's rows/columns follow the new column order.
    Tensor RefreshBases(Dictionary<string, Tensor> state, string key, Tensor vb)
    {
        for (int axis = 0; axis < 2; axis++)
        {
            string side = axis == 0 ? "L" : "R";
            if (!state.TryGetValue($"Q{side}_{key}", out var q)) continue;
            var c = state[$"{side}_{key}"];
            var estimates = q.T.MatMul(c).MatMul(q).ToDoubleArray();
            int n = q.Shape[0];
            var order = Enumerable.Range(0, n).OrderByDescending(k => estimates[k * n + k]).Select(k => (long)k).ToArray();
            var index = Tensor.FromArray(order).To(q.Device);
            vb = vb.IndexSelect(axis, index);
            var (basis, _) = Linalg.Qr(c.MatMul(q.IndexSelect(1, index)).To(DType.Float64));
            state[$"Q{side}_{key}"] = basis.To(q.DType).To(q.Device);
        }
        return vb;
    }

    static Tensor Project(Tensor x, Tensor? ql, Tensor? qr)
    {
        if (ql is not null) x = ql.T.MatMul(x);
        return qr is not null ? x.MatMul(qr) : x;
    }

    static Tensor ProjectBack(Tensor x, Tensor? ql, Tensor? qr)
    {
        if (ql is not null) x = ql.MatMul(x);
        return qr is not null ? x.MatMul(qr.T) : x;
    }
}
