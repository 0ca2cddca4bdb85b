using Engine.Peft.Spectral;
namespace Engine.Peft.SharedBasis;

/// <summary>
/// A <see cref="Linear"/> with FRoD adapters (PEFT's <c>frod/layer.py</c>): W0 = U diag(λ0) Vᵀ with V the
/// category's shared basis, B = W0 V⁻ᵀ (float64 solve, pseudo-inverse when V is singular), λ0 its column norms and
/// U = B / λ0; the adapted weight is U (S + diag λ) Vᵀ, with trainable λ [in] (<c>frod_lambda_l</c>) and the values
/// [nnz] of the sparse off-diagonal S (<c>frod_lambda_s_values</c>, at the category's fixed positions). As an
/// additive method: ΔW = U (S + diag λ) Vᵀ − W0, with W0 the base weight when the adapter was added (PEFT keeps it
/// for unmerging too). U is not in files: it is rebuilt from the base weight and the file's V on first use.
/// </summary>
public sealed class FrodLayer : AdditiveAdapterLayer
{
    sealed class State(FrodProjections part, string category, Tensor w0)
    {
        public FrodProjections Part { get; } = part;
        public string Category { get; } = category;
        public Tensor W0 { get; } = w0;  // float64
        public Tensor? U { get; set; }   // float64, built on first use when the adapter came from a file
        public Tensor? Flat { get; set; }  // S's positions as row · in + col (Int64), built on first use
    }

    readonly Dictionary<string, State> _states = new();

    /// <summary>Wraps <paramref name="baseLayer"/>.</summary>
    public FrodLayer(Linear baseLayer) : base(baseLayer) { }

    /// <summary>λ [in].</summary>
    public Tensor LambdaL(string name) => Parameter("frod_lambda_l", name);

    /// <summary>S's values [nnz].</summary>
    public Tensor SValues(string name) => Parameter("frod_lambda_s_values", name);

    /// <summary>The shared basis V [in, in] of this layer's category.</summary>
    public Tensor V(string name) => _states[name].Part.V(_states[name].Category);

    /// <summary>U [out, in] (float64), with W0 = U diag(λ0) Vᵀ.</summary>
    public Tensor U(string name)
    {
        var s = _states[name];
        return s.U ??= Decompose(s.W0, V(name).To(DType.Float64)).U;
    }

    /// <inheritdoc/>
    public override IEnumerable<PlannedTensor> PlanAdapter(AdapterContext context) =>
        [Planned("frod_lambda_l", null, InFeatures), Planned("frod_lambda_s_values", null, FrodProjections.Nnz(InFeatures, context.ConfigAs<FrodConfig>().SparseRate))];

    /// <inheritdoc/>
    protected override void CreateAdapter(AdapterContext context)
    {
        var c = context.ConfigAs<FrodConfig>();
        var part = context.ModelPartAs<FrodProjections>();
        var category = FrodProjections.Category(context.Path.External);
        var dtype = BaseWeight.DType;
        var state = new State(part, category, BaseWeight.Detach().To(DType.Float64).Contiguous());
        int nnz = part.Indices(category).Size(1);
        Tensor lambda;
        if (part.FromFile) lambda = Tensor.Zeros([InFeatures], dtype);  // the file's λ replaces it; U is built on first use
        else
        {
            (state.U, var l0) = Decompose(state.W0, part.V(category).To(DType.Float64));
            lambda = l0.To(dtype);
        }
        var values = Tensor.Zeros([nnz], dtype);
        if (!c.InitWeights)
        {
            lambda = lambda + Tensor.Randn([InFeatures], 0, 0.1, dtype, context.Generator);
            values = Tensor.Randn([nnz], 0, 0.1, dtype, context.Generator);
        }
        _states[context.Name] = state;
        AddDropout("frod_dropout", context.Name, c.FrodDropout, context.Generator);
        AddParameter("frod_lambda_l", context.Name, lambda.Contiguous());
        AddParameter("frod_lambda_s_values", context.Name, values);
    }

    /// <inheritdoc/>
    protected override void OnRemoving(string name) => _states.Remove(name);

    /// <summary>B = W V⁻ᵀ (pseudo-inverse when V is singular), λ = B's column norms, U = B / λ (zero columns where λ ≤ 1e-12).</summary>
    public static (Tensor U, Tensor Lambda) Decompose(Tensor w, Tensor v)
    {
        Tensor b;
        try { b = Linalg.Solve(v, w.T).T; }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException) { b = w.MatMul(PseudoInverse(v).T); }
        var lambda = (b * b).Sum([0]).Sqrt();
        var inverse = Tensor.FromArray(lambda.ToDoubleArray().Select(l => l > 1e-12 ? 1 / l : 0).ToArray(), [lambda.Size(0)]);
        return ((b * inverse.Unsqueeze(0)).Contiguous(), lambda);
    }

    // torch.linalg.pinv(v, rtol=1e-6) through the SVD.
    static Tensor PseudoInverse(Tensor v)
    {
        var (u, s, vh) = Linalg.Svd(v);
        var sv = s.ToDoubleArray();
        var inv = Tensor.FromArray(sv.Select(x => x > 1e-6 * sv[0] ? 1 / x : 0).ToArray(), [sv.Length]);
        return (vh.T * inv.Unsqueeze(0)).MatMul(u.T);
    }

    // t in the base weight's dtype and on its device.
    Tensor Like(Tensor t)
    {
        var r = t.DType == BaseWeight.DType ? t : t.To(BaseWeight.DType);
        return r.Device == BaseWeight.Device ? r : r.To(BaseWeight.Device);
    }

    /// <summary>
    /// S [in, in]: this adapter's values at the category's positions, scattered (differentiable in the values) into
    /// flat positions row · in + col; a dense one-hot product would take nnz · in memory (gigabytes at in = 1536).
    /// </summary>
    public Tensor SparseS(string name)
    {
        var s = _states[name];
        var values = SValues(name);
        int n = InFeatures;
        if (s.Flat is null)
        {
            var idx = s.Part.Indices(s.Category).To(DType.Int64).Contiguous().ToArray<long>();
            int nnz = idx.Length / 2;
            var flat = new long[nnz];
            for (int k = 0; k < nnz; k++) flat[k] = idx[k] * n + idx[nnz + k];
            s.Flat = Tensor.FromArray(flat, [nnz]);
        }
        var positions = s.Flat.Device == values.Device ? s.Flat : s.Flat.To(values.Device);
        return SparseDelta.Dense(values, positions, n, n);
    }

    /// <summary>U (S + diag λ) Vᵀ − W0 [out, in].</summary>
    public override Tensor DeltaWeight(string name)
    {
        var u = Like(U(name));
        var inner = u * LambdaL(name).Unsqueeze(0);
        if (SValues(name).Size(0) > 0) inner = inner + u.MatMul(SparseS(name));
        return inner.MatMul(Like(V(name)).T) - Like(_states[name].W0);
    }
}
