namespace Engine.Nn;

/// <summary>
/// PSGD Kron (Li 2018, "Preconditioner on Matrix Lie Group for SGD"; the Kronecker-factored form of
/// evanatyourservice/kron_torch), as structure-and-optimizers.md §3.1 and levanter <c>src/levanter/optim/kron.py</c>
/// (<c>scale_by_kron</c>, <c>_update_precond</c>, <c>_conjB</c>, <c>_norm_lower_bound</c>,
/// <c>precond_update_prob_schedule</c>) arrange it. Per parameter: optionally <c>g ← g/(‖g‖+1e-16)</c>
/// (<see cref="NormalizeGrads"/>), <c>m ← β1 m + (1−β1) g</c>, <c>M = m/(1−β1^t)</c>. Each matrix dimension i has an
/// upper-triangular <c>Q_i</c> (a vector dimension, or one larger than <see cref="MaxSizeTriangular"/>, a diagonal
/// one), started at <c>s^{1/order}·I</c>. When an update is due, with probe <c>V ~ N(0, I)</c>:
/// <c>G = M + √ε_f32·mean|M|·V</c> (levanter fits the preconditioner to the momentum, not the raw gradient — we follow
/// the code), <c>A = Q1 G Q2ᵀ</c>, <c>conjB = Q1^{−T} V Q2^{−1}</c> (<see cref="Tensor.SolveTriangular"/>), and <c>Q1 ← Q1 − η_p/‖T1+T2‖₂^{lb} · triu(T1 − T2) Q1</c> with <c>T1 = AAᵀ</c>, <c>T2 = conjB conjBᵀ</c> (Q2
/// alike with <c>AᵀA</c>, <c>conjBᵀconjB</c>; a diagonal factor uses the max-abs and elementwise products). The
/// direction is <c>Q1ᵀQ1 · M · Q2ᵀQ2</c>, then levanter's <c>clip_by_block_rms(1.1)</c>: <c>u / max(1, rms(u)/1.1)</c>.
/// <para>
/// When updates happen: levanter's current code is deterministic given the probability
/// <c>p(t) = clip(exp(−decay·(t − flatStart)), pMin, 1)</c>: a counter grows each step and an update runs when it
/// reaches 1/p (then resets) — the spec's "with probability p" becomes "every ⌈1/p⌉ steps". Every
/// <see cref="BalanceEvery"/> updates the factors of a parameter are rescaled to the geometric mean of their max-abs
/// values (levanter: 100). The probe V comes from a generator seeded by <see cref="Seed"/>, the step and the
/// parameter's position, so a resumed run draws the same probes without saving a generator; <see cref="Noise"/>
/// replaces it (the golden tests pass fixed probes). Not done: levanter's block partitioning (256) and merging of
/// small dimensions — each matrix gets whole-dimension factors, which is what levanter does for matrices under 256.
/// </para>
/// Defaults: the paper's tuned 130M values β1 0.95, precond η 0.2, pMin 0.05 after a 2000-step flat start, gradient
/// normalisation on; levanter's decay 0.001, init scale 1, max triangular size 25000.
/// Slots <c>exp_avg</c>, <c>Q0</c>, <c>Q1</c> (rank-2 parameters; <c>Q0</c> only for vectors).
/// </summary>
public sealed class Kron : DecoupledOptimizer
{
    static readonly double DampEps = Math.Sqrt(1.1920928955078125e-7);
    const double Tiny = 1.1754943508222875e-38;

    readonly List<bool> _updates = [false];
    readonly List<bool> _balances = [false];
    int _counter, _balanceCounter;
    readonly Dictionary<Tensor, int> _index = new(ReferenceEqualityComparer.Instance);

    public Kron(IEnumerable<ParamGroup> groups, double beta1 = 0.95, double preconditionerLr = 0.2, double minUpdateProbability = 0.05, int flatStart = 2000,
        double probabilityDecay = 0.001, bool normalizeGrads = true, double initScale = 1.0, int maxSizeTriangular = 25000, int balanceEvery = 100, ulong seed = 0) : base(groups)
    {
        OptimizerArguments.Beta("Kron", "beta1", beta1);
        OptimizerArguments.Positive("Kron", "preconditionerLr", preconditionerLr);
        if (!(minUpdateProbability > 0 && minUpdateProbability <= 1)) throw new ArgumentException($"Kron: minUpdateProbability must be in (0, 1], got {minUpdateProbability}");
        if (flatStart < 0) throw new ArgumentException($"Kron: flatStart must be >= 0, got {flatStart}");
        if (!(probabilityDecay >= 0)) throw new ArgumentException($"Kron: probabilityDecay must be >= 0, got {probabilityDecay}");
        OptimizerArguments.Positive("Kron", "initScale", initScale);
        if (balanceEvery < 1) throw new ArgumentException($"Kron: balanceEvery must be >= 1, got {balanceEvery}");
        foreach (var g in Groups)
            for (int i = 0; i < g.Parameters.Count; i++)
                if (g.Parameters[i].Rank > 2)
                    throw new ArgumentException($"Kron: parameter {i} of group '{g.Name}' has shape {Shapes.Format(g.Parameters[i].Shape)}; only vectors and matrices are supported");
        Beta1 = beta1;
        PreconditionerLr = preconditionerLr;
        MinUpdateProbability = minUpdateProbability;
        FlatStart = flatStart;
        ProbabilityDecay = probabilityDecay;
        NormalizeGrads = normalizeGrads;
        InitScale = initScale;
        MaxSizeTriangular = maxSizeTriangular;
        BalanceEvery = balanceEvery;
        Seed = seed;
    }

    public double Beta1 { get; }
    public double PreconditionerLr { get; }
    public double MinUpdateProbability { get; }
    public int FlatStart { get; }
    public double ProbabilityDecay { get; }
    public bool NormalizeGrads { get; }
    public double InitScale { get; }
    public int MaxSizeTriangular { get; }
    public int BalanceEvery { get; }
    public ulong Seed { get; }

    /// <summary>The probe V for (parameter, step); null: standard normal from <see cref="Seed"/>.</summary>
    public Func<Tensor, long, Tensor>? Noise { get; init; }

    /// <summary>levanter <c>precond_update_prob_schedule</c> at step <paramref name="t"/> (1-based).</summary>
    public double UpdateProbability(long t) => Math.Clamp(Math.Exp(-ProbabilityDecay * (t - FlatStart)), MinUpdateProbability, 1.0);

    /// <summary>Whether step <paramref name="t"/> (1-based) updates the preconditioners, and whether it balances them first.</summary>
    public (bool Update, bool Balance) Schedule(long t)
    {
        if (t < 1) throw new ArgumentException($"Kron.Schedule: steps count from 1, got {t}");
        while (_updates.Count <= t)
        {
            long step = _updates.Count;
            bool update = ++_counter >= 1 / UpdateProbability(step), balance = false;
            if (update)
            {
                _counter = 0;
                if (++_balanceCounter >= BalanceEvery) (balance, _balanceCounter) = (true, 0);
            }
            _updates.Add(update);
            _balances.Add(balance);
        }
        return (_updates[(int)t], _balances[(int)t]);
    }

    bool IsDiagonal(Tensor parameter, int dim) => parameter.Rank < 2 || parameter.Shape[dim] > MaxSizeTriangular;

    public override int[] SlotShape(Tensor parameter, string slot)
    {
        var shape = parameter.Rank == 0 ? [1] : parameter.Shape;
        if (slot is not ("Q0" or "Q1")) return parameter.Shape;
        int dim = slot[1] - '0';
        if (dim >= shape.Length) return [-1];
        return IsDiagonal(parameter, dim) ? [shape[dim]] : [shape[dim], shape[dim]];
    }

    public override Tensor Direction(ParamGroup group, Tensor parameter, Tensor grad, Dictionary<string, Tensor> state, long step)
    {
        var g = parameter.Rank == 0 ? grad.Reshape([1]) : grad;
        if (NormalizeGrads) g = g / (Math.Sqrt(g.To(DType.Float64).Square().Sum().Item()) + 1e-16);
        var m = state.TryGetValue("exp_avg", out var m1) ? m1 * Beta1 + g.Reshape(parameter.Shape) * (1 - Beta1) : g.Reshape(parameter.Shape) * (1 - Beta1);
        state["exp_avg"] = m;
        var momentum = (m / (1 - Math.Pow(Beta1, step))).Reshape(g.Shape);
        int order = g.Rank;
        var q = new Tensor[order];
        for (int d = 0; d < order; d++)
            q[d] = state.TryGetValue($"Q{d}", out var existing) ? existing
                : IsDiagonal(parameter, d) ? Tensor.Full([g.Shape[d]], Math.Pow(InitScale, 1.0 / order), parameter.DType).To(parameter.Device)
                : Tensor.Eye(g.Shape[d], dtype: parameter.DType).To(parameter.Device) * Math.Pow(InitScale, 1.0 / order);
        var (update, balance) = Schedule(StepCount);
        if (update)
        {
            if (balance) Balance(q);
            var v = (Noise is { } noise ? noise(parameter, StepCount) : Probe(parameter, g.Shape)).Reshape(g.Shape).To(parameter.DType).To(parameter.Device);
            var damped = momentum + v * (DampEps * momentum.Abs().Mean().Item());
            UpdateFactors(q, damped, v);
        }
        for (int d = 0; d < order; d++) state[$"Q{d}"] = q[d];
        var u = order == 1 ? q[0].Square() * momentum : Side(q[0]).T.MatMul(Side(q[0])).MatMul(momentum).MatMul(Side(q[1]).T.MatMul(Side(q[1])));
        double rms = Math.Sqrt(u.To(DType.Float64).Square().Mean().Item());
        return (rms > 1.1 ? u / (rms / 1.1) : u).Reshape(parameter.Shape);
    }

    // A diagonal factor as a matrix, for the matrix products of a rank-2 parameter whose dimension exceeds MaxSizeTriangular.
    static Tensor Side(Tensor q) => q.Rank == 1 ? Diag(q) : q;

    static Tensor Diag(Tensor q)
    {
        int n = q.Shape[0];
        return Tensor.Eye(n, dtype: q.DType).To(q.Device) * q.Reshape([1, n]);
    }

    Tensor Probe(Tensor parameter, int[] shape)
    {
        if (!_index.TryGetValue(parameter, out int index))
        {
            var all = Groups.SelectMany(gr => gr.Parameters).ToList();
            index = all.FindIndex(p => ReferenceEquals(p, parameter));
            _index[parameter] = index;
        }
        var generator = new Generator(unchecked(Seed * 0x9E3779B97F4A7C15UL + (ulong)StepCount * 1_000_003UL + (ulong)index));
        return Tensor.Randn(shape, dtype: DType.Float64, generator: generator);
    }

    // levanter _balance_Q: every factor scaled to the geometric mean of the factors' max-abs values.
    static void Balance(Tensor[] q)
    {
        var norms = q.Select(x => x.Abs().Max().Item()).ToArray();
        double geometricMean = Math.Exp(norms.Select(x => Math.Log(x)).Average());
        for (int d = 0; d < q.Length; d++) q[d] = q[d] * (geometricMean / norms[d]);
    }

    void UpdateFactors(Tensor[] q, Tensor g, Tensor v)
    {
        if (q.Length == 1)
        {
            var a = q[0] * g;
            var conj = v / q[0];
            var (t1, t2) = (a.Square(), conj.Square());
            q[0] = q[0] - (t1 - t2) * q[0] * (PreconditionerLr / ((t1 + t2).Abs().Max().Item() + Tiny));
            return;
        }
        var (left, right) = (Side(q[0]), Side(q[1]));
        var aMatrix = left.MatMul(g).MatMul(right.T);
        // conjB = Q1^{-T} V Q2^{-1}: two triangular solves (levanter _conjB); X Q2^{-1} = (Q2^{-T} Xᵀ)ᵀ.
        var conjB = Tensor.SolveTriangular(left.T, v, upper: false);
        conjB = Tensor.SolveTriangular(right.T, conjB.T, upper: false).T;
        for (int d = 0; d < 2; d++)
        {
            var (t1, t2) = d == 0 ? (aMatrix.MatMul(aMatrix.T), conjB.MatMul(conjB.T)) : (aMatrix.T.MatMul(aMatrix), conjB.T.MatMul(conjB));
            if (q[d].Rank == 1)
            {
                var (d1, d2) = (DiagonalOf(t1), DiagonalOf(t2));
                q[d] = q[d] - (d1 - d2) * q[d] * (PreconditionerLr / ((d1 + d2).Abs().Max().Item() + Tiny));
            }
            else
                q[d] = q[d] - (t1 - t2).Triu().MatMul(q[d]) * (PreconditionerLr / (NormLowerBound(t1 + t2) + Tiny));
        }
    }

    static Tensor DiagonalOf(Tensor a) => (a * Tensor.Eye(a.Shape[0], dtype: a.DType).To(a.Device)).Sum(1);

    /// <summary>levanter <c>_norm_lower_bound</c>: a cheap lower bound of the spectral norm of a symmetric matrix (within √2 of it).</summary>
    internal static double NormLowerBound(Tensor a)
    {
        double maxAbs = a.Abs().Max().Item();
        if (!(maxAbs > 0)) return maxAbs;
        var scaled = a / maxAbs;
        var columnSquares = scaled.Square().Sum(0).ToDoubleArray();
        int best = Array.IndexOf(columnSquares, columnSquares.Max());
        var x = scaled.Narrow(1, best, 1).T.MatMul(scaled);
        x = x / Math.Sqrt(x.To(DType.Float64).Square().Sum().Item());
        return maxAbs * Math.Sqrt(x.MatMul(scaled.T).To(DType.Float64).Square().Sum().Item());
    }
}
