namespace Engine.Nn;

/// <summary>
/// AdamW with Riemannian preconditioning of low-rank factor pairs (Zhang and Pilanci 2024, "Riemannian preconditioned
/// LoRA"; the form of B4M's <c>AdamWr</c>, ICTMCG/Break-for-make <c>code/custom_optimizer.py</c>; spec
/// seeds-remaining.md §2). For every pair (A [r, in], B [out, r]) the gradients are first preconditioned by the other
/// factor's Gram matrix,
/// <c>Ĝ_A = (BᵀB + δI_r)⁻¹ G_A</c>, <c>Ĝ_B = G_B (A Aᵀ + δI_r)⁻¹</c>,
/// with the identity instead of an inverse whose Gram has Frobenius norm ≤ 1e-6 (a factor still at zero), both from the
/// factors as they are before the step; then Adam's moments and bias corrections run on Ĝ and the decay is decoupled
/// (<see cref="DecoupledOptimizer"/>'s θ ← θ(1 − ηλ) − ηu). Parameters outside every pair get plain AdamW.
/// Deviation from the reference: it decays after the Adam update (θ ← (θ − ηu)(1 − ηλ)); the engine decays the old θ
/// as torch's AdamW does (a difference of order η²λ).
/// <code>var opt = new AdamWr([new ParamGroup([a, b], lr: 1e-4)], [new LowRankFactorPair(a, b)], delta: 0);</code>
/// </summary>
public sealed class AdamWr : DecoupledOptimizer
{
    /// <summary>A Gram matrix whose Frobenius norm is at most this is replaced by the identity (the reference's test).</summary>
    public const double GramFloor = 1e-6;

    readonly IReadOnlyList<LowRankFactorPair> _pairs;
    readonly Dictionary<Tensor, Tensor> _preconditioned = new(ReferenceEqualityComparer.Instance);

    /// <summary>
    /// An AdamWr over <paramref name="groups"/> whose factor pairs <paramref name="pairs"/> are preconditioned; δ =
    /// <paramref name="delta"/> (the reference's <c>optimizer_reg</c>, default 0).
    /// </summary>
    /// <exception cref="ArgumentException">A pair's factors are not matrices of one rank r, or are not optimised by a group, or a factor is in two pairs; δ is negative or not finite.</exception>
    public AdamWr(IEnumerable<ParamGroup> groups, IEnumerable<LowRankFactorPair> pairs, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8, double delta = 0)
        : base(groups)
    {
        if (!(delta >= 0 && double.IsFinite(delta))) throw new ArgumentException($"AdamWr: delta must be finite and non-negative, got {delta}");
        Beta1 = beta1;
        Beta2 = beta2;
        Eps = eps;
        Delta = delta;
        _pairs = pairs.ToList();
        var optimised = new HashSet<Tensor>(Groups.SelectMany(g => g.Parameters), ReferenceEqualityComparer.Instance);
        var seen = new HashSet<Tensor>(ReferenceEqualityComparer.Instance);
        for (int i = 0; i < _pairs.Count; i++)
        {
            var (a, b) = (_pairs[i].A, _pairs[i].B);
            if (a.Rank != 2 || b.Rank != 2 || a.Size(0) != b.Size(1))
                throw new ArgumentException($"AdamWr: pair {i} needs A [r, k] and B [m, r] of one rank r, got A {Shapes.Format(a.Shape)} and B {Shapes.Format(b.Shape)}");
            foreach (var (t, which) in new[] { (a, "A"), (b, "B") })
            {
                if (!optimised.Contains(t)) throw new ArgumentException($"AdamWr: {which} of pair {i} ({Shapes.Format(t.Shape)}) is in no parameter group");
                if (!seen.Add(t)) throw new ArgumentException($"AdamWr: {which} of pair {i} ({Shapes.Format(t.Shape)}) is already in another pair");
            }
        }
    }

    /// <summary>Adam's β1.</summary>
    public double Beta1 { get; }

    /// <summary>Adam's β2.</summary>
    public double Beta2 { get; }

    /// <summary>Adam's ε (added to √v̂).</summary>
    public double Eps { get; }

    /// <summary>δ, the ridge added to each Gram matrix before inverting it.</summary>
    public double Delta { get; }

    /// <summary>The factor pairs this optimiser preconditions.</summary>
    public IReadOnlyList<LowRankFactorPair> Pairs => _pairs;

    /// <summary>
    /// (Ĝ_A, Ĝ_B) of <paramref name="pair"/> for gradients <paramref name="gradA"/> [r, k] and <paramref name="gradB"/>
    /// [m, r] (either may be null: nothing to precondition), from the factors' current values; computed in Float64,
    /// returned in the gradients' dtypes.
    /// </summary>
    /// <exception cref="ArgumentException">A whole factor's shape does not match its trained part's rank, or with δ = 0 a Gram is singular (give δ &gt; 0).</exception>
    public (Tensor? A, Tensor? B) Precondition(LowRankFactorPair pair, Tensor? gradA, Tensor? gradB)
    {
        using var _ = Autograd.Autograd.NoGrad();
        int r = pair.A.Size(0);
        Tensor? ga = null, gb = null;
        if (gradA is not null)
        {
            var b = (pair.FullB?.Invoke() ?? pair.B).Detach().To(DType.Float64);
            if (b.Rank != 2 || b.Size(1) != r) throw new ArgumentException($"AdamWr: the whole B must be [out, {r}], got {Shapes.Format(b.Shape)}");
            ga = Solve(b.T % b, gradA.To(DType.Float64), "BᵀB").To(gradA.DType);
        }
        if (gradB is not null)
        {
            var a = (pair.FullA?.Invoke() ?? pair.A).Detach().To(DType.Float64);
            if (a.Rank != 2 || a.Size(0) != r) throw new ArgumentException($"AdamWr: the whole A must be [{r}, in], got {Shapes.Format(a.Shape)}");
            // G_B (A Aᵀ + δI)⁻¹ = ((A Aᵀ + δI)⁻¹ G_Bᵀ)ᵀ, the Gram being symmetric.
            gb = Solve(a % a.T, gradB.To(DType.Float64).T.Contiguous(), "A Aᵀ").T.Contiguous().To(gradB.DType);
        }
        return (ga, gb);
    }

    // (G + δI)⁻¹ X, or X when ‖G‖_F ≤ GramFloor.
    Tensor Solve(Tensor gram, Tensor x, string what)
    {
        if (gram.Square().Sum().Sqrt().Item() <= GramFloor) return x;
        var regularised = Delta == 0 ? gram : gram + Tensor.Eye(gram.Size(0), dtype: DType.Float64) * Delta;
        try { return Linalg.Solve(regularised, x); }
        catch (ArgumentException e) { throw new ArgumentException($"AdamWr: {what} + δI is singular with δ = {Delta}; give δ > 0 ({e.Message})", e); }
    }

    /// <inheritdoc/>
    public override void BeginStep(IReadOnlyList<ParamGroup> groups, Func<Tensor, Dictionary<string, Tensor>> stateOf)
    {
        // Every preconditioner is computed from the factors before any of them moves (the reference's order).
        _preconditioned.Clear();
        foreach (var pair in _pairs)
        {
            var (ga, gb) = Precondition(pair, pair.A.Grad, pair.B.Grad);
            if (ga is not null) _preconditioned[pair.A] = ga;
            if (gb is not null) _preconditioned[pair.B] = gb;
        }
    }

    /// <inheritdoc/>
    public override Tensor Direction(ParamGroup group, Tensor parameter, Tensor grad, Dictionary<string, Tensor> state, long step) =>
        AdamMoments.Direction(state, _preconditioned.TryGetValue(parameter, out var g) ? g : grad, Beta1, Beta2, Eps, step);
}
