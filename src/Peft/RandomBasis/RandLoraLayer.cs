namespace Engine.Peft.RandomBasis;

/// <summary>
/// A <see cref="Linear"/> with RandLoRA adapters, exactly as PEFT's <c>randlora/layer.py</c> (which flattens the
/// paper's sum over bases, ΔW = s Σ_n B_n diag(λ_n) A diag(γ_n), in two index orders that pair (basis, rank) entries
/// differently; replicated for file compatibility). With min = min(in, out), max = max(in, out), N = ceil(min / r):
/// Ã[k, n, j] = λ[k, n] A[k, 0, j] γ[n, j] flattened to [r N, min] (row k N + n), B_flat = B[:max, :N, :] flattened to
/// [max, N r] (column n r + k); ΔW = s B_flat Ã when min = in, else s (B_flat Ã)ᵀ; s = randlora_alpha / r.
/// Trainable λ [r, N] (<c>randlora_lambda</c>) and γ [N, min] (<c>randlora_gamma</c>).
/// </summary>
public sealed class RandLoraLayer : AdditiveAdapterLayer
{
    readonly Dictionary<string, RandLoraProjections> _bases = new();

    /// <summary>Wraps <paramref name="baseLayer"/>.</summary>
    public RandLoraLayer(Linear baseLayer) : base(baseLayer) { }

    int MinDim => Math.Min(InFeatures, OutFeatures);

    int MaxDim => Math.Max(InFeatures, OutFeatures);

    /// <summary>λ [r, N].</summary>
    public Tensor Lambda(string name) => Parameter("randlora_lambda", name);

    /// <summary>γ [N, min(in, out)].</summary>
    public Tensor Gamma(string name) => Parameter("randlora_gamma", name);

    /// <summary>The number of bases N of adapter <paramref name="name"/>.</summary>
    public int NumBases(string name) => Gamma(name).Size(0);

    /// <inheritdoc/>
    public override IEnumerable<PlannedTensor> PlanAdapter(AdapterContext context)
    {
        int r = context.ConfigAs<RandLoraConfig>().R, n = RandLoraProjections.NumBases(MinDim, r);
        return [Planned("randlora_lambda", null, r, n), Planned("randlora_gamma", null, n, MinDim)];
    }

    /// <inheritdoc/>
    protected override void CreateAdapter(AdapterContext context)
    {
        var c = context.ConfigAs<RandLoraConfig>();
        var bases = context.ModelPartAs<RandLoraProjections>();
        int n = RandLoraProjections.NumBases(MinDim, c.R);
        // PEFT's checks: the shared bases must cover this layer.
        if (bases.A.Size(0) < c.R || bases.A.Size(2) < MinDim || bases.B.Size(0) < MaxDim || bases.B.Size(1) < n)
            throw new ArgumentException($"RandLoRA: the shared bases A {Shapes.Format(bases.A.Shape)} and B {Shapes.Format(bases.B.Shape)} do not cover a [{OutFeatures}, {InFeatures}] layer at r = {c.R}");
        var dtype = BaseLayer.Weight.DType;
        _bases[context.Name] = bases;
        AddDropout("randlora_dropout", context.Name, c.RandloraDropout, context.Generator);
        AddParameter("randlora_lambda", context.Name, c.InitWeights ? Tensor.Zeros([c.R, n], dtype) : Tensor.Randn([c.R, n], 0, 1, dtype, context.Generator));
        AddParameter("randlora_gamma", context.Name, Tensor.Full([n, MinDim], 1.0 / (c.InitWeights ? Math.Max(n, MinDim) : MaxDim), dtype));
    }

    /// <inheritdoc/>
    protected override void OnRemoving(string name) => _bases.Remove(name);

    double Scale(string name) => ((RandLoraConfig)ConfigOf(name)).RandloraAlpha / ((RandLoraConfig)ConfigOf(name)).R;

    // Ã [r N, min] (row k N + n) and B_flat [max, N r] (column n r + k).
    (Tensor ScaledA, Tensor FlatB) Factors(string name)
    {
        var lambda = Lambda(name);
        int r = lambda.Size(0), n = lambda.Size(1);
        var a = _bases[name].A.Narrow(0, 0, r).Narrow(2, 0, MinDim);
        var scaledA = (lambda.Unsqueeze(2) * a * Gamma(name).Unsqueeze(0)).Reshape(r * n, MinDim);
        var flatB = _bases[name].B.Narrow(0, 0, MaxDim).Narrow(1, 0, n).Narrow(2, 0, r).Reshape(MaxDim, n * r);
        return (scaledA, flatB);
    }

    /// <inheritdoc/>
    public override Tensor DeltaWeight(string name)
    {
        var (a, b) = Factors(name);
        var product = b.MatMul(a) * Scale(name);  // [max, min]
        return MinDim == InFeatures ? product : product.T.Contiguous();
    }

    /// <inheritdoc/>
    protected override Tensor Contribution(string name, Tensor x)
    {
        var (a, b) = Factors(name);
        // min = in: x Ãᵀ B_flatᵀ; else x B_flat Ã (both [.., out]).
        return (MinDim == InFeatures ? LinearMap(LinearMap(x, a), b) : LinearMap(LinearMap(x, b.T), a.T)) * Scale(name);
    }
}
