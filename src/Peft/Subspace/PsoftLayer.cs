using Engine.Peft.LowRank;

namespace Engine.Peft.Subspace;

/// <summary>
/// A <see cref="Linear"/> with PSOFT adapters (PEFT's <c>psoft.Linear</c>): y = base(x) + s ((xd Aᵀ) R'ᵀ - xd Aᵀ) Bᵀ,
/// xd the dropped-out input, so ΔW = s B (R' - I) A. A [r, in] and B [out, r] are frozen (<c>psoft_svd_A</c>,
/// <c>psoft_svd_B</c>: the engine's keys; PEFT keeps them unsaved and rebuilds them from the base weight's SVD, which
/// the engine does too when a file lacks them); R' is <see cref="PsoftRotation"/> (<c>psoft_R.*</c>).
/// </summary>
public sealed class PsoftLayer : AdditiveAdapterLayer
{
    sealed record PsoftSettings(int R, double Scaling);

    /// <summary>Wraps <paramref name="baseLayer"/>.</summary>
    public PsoftLayer(Linear baseLayer) : base(baseLayer) { }

    /// <summary>The trained transform of adapter <paramref name="name"/>.</summary>
    public PsoftRotation Rotation(string name) => ModuleOf<PsoftRotation>("psoft_R", name);

    /// <summary>A [r, in] (frozen).</summary>
    public Tensor A(string name) => Buffer("psoft_svd_A", name);

    /// <summary>B [out, r] (frozen).</summary>
    public Tensor B(string name) => Buffer("psoft_svd_B", name);

    /// <inheritdoc/>
    public override IEnumerable<PlannedTensor> PlanAdapter(AdapterContext context)
    {
        var c = context.ConfigAs<PsoftConfig>();
        int r = c.R;
        if (r < 1 || r > Math.Min(OutFeatures, InFeatures))
            throw new ArgumentException($"PsoftLayer: r must be between 1 and min(out, in) = {Math.Min(OutFeatures, InFeatures)} at '{context.Path.External}', got {r}");
        yield return c.PsoftOrth ? Planned("psoft_R", "weight", r * (r - 1) / 2) : Planned("psoft_R", "weight", r, r);
        if (c.PsoftMagB) yield return Planned("psoft_R", "vector_b", r);
        if (c.PsoftMagA) yield return Planned("psoft_R", "vector_a", r);
        // PEFT's files lack A and B; with the full SVD the engine rebuilds them (deterministic). torch.svd_lowrank's
        // random projection cannot be replayed, so then the file must hold them.
        if (c.PsoftSvd == "full")
        {
            yield return PlannedRecomputed("psoft_svd_A", null, r, InFeatures);
            yield return PlannedRecomputed("psoft_svd_B", null, OutFeatures, r);
        }
        else
        {
            yield return Planned("psoft_svd_A", null, r, InFeatures);
            yield return Planned("psoft_svd_B", null, OutFeatures, r);
        }
    }

    /// <inheritdoc/>
    protected override void CreateAdapter(AdapterContext context)
    {
        var c = context.ConfigAs<PsoftConfig>();
        var name = context.Name;
        int r = c.R;
        if (r > Math.Min(OutFeatures, InFeatures))
            throw new ArgumentException($"PsoftLayer: r must be at most min(out, in) = {Math.Min(OutFeatures, InFeatures)} at '{context.Path.External}', got {r}");
        SetState(name, new PsoftSettings(r, c.Scaling));
        var g = context.Generator;
        AddDropout("psoft_dropout", name, c.PsoftDropout, g);
        var rotation = AddModule("psoft_R", name, new PsoftRotation(r, c.PsoftOrth, c.PsoftMagB, c.PsoftMagA, c.UseCayleyNeumann, c.NumCayleyNeumannTerms, c.CayleyNeumannEps));
        if (!c.InitWeights)
            using (Autograd.Autograd.NoGrad())
            {
                // PEFT's debug init: Q ~ N(0, 0.1²), or R = I + N(0, 0.1²).
                var w = rotation.Weight;
                var noise = Tensor.Randn(w.Shape, 0, 0.1, w.DType, g);
                w.CopyFrom(c.PsoftOrth ? noise : Tensor.Eye(r, dtype: w.DType) + noise);
            }
        var (a, b) = Principal(BaseLayer.Weight, r, c.Scaling, c.AbSvdInit);
        AddBuffer("psoft_svd_A", name, a);
        AddBuffer("psoft_svd_B", name, b);
    }

    /// <summary>
    /// A [r, in] and B [out, r] from the top-r SVD W = U S Vᵀ (PEFT's <c>_build_psoft_ab_cache_buffers</c>): psoft_init
    /// A = V_rᵀ, B = U_r diag(S_r / s); pissa_init A = diag(√(S_r / s)) V_rᵀ, B = U_r diag(√(S_r / s)).
    /// </summary>
    public static (Tensor A, Tensor B) Principal(Tensor weight, int r, double scaling, string init)
    {
        if (init == "pissa_init") return LowRankInit.Pissa(weight, r, scaling);
        var (u, sv, vh) = WeightSvd.Principal(weight, r);
        return (vh.To(weight.DType), (u * (sv / scaling).Unsqueeze(0)).To(weight.DType));
    }

    /// <summary>s B (R' - I) A [out, in].</summary>
    public override Tensor DeltaWeight(string name)
    {
        var m = Rotation(name).Matrix();
        var eye = Tensor.Eye(m.Size(0), dtype: m.DType).To(m.Device);
        return B(name) % (m - eye) % A(name) * State<PsoftSettings>(name).Scaling;
    }

    /// <inheritdoc/>
    protected override Tensor Contribution(string name, Tensor x)
    {
        var xa = LinearMap(x, A(name));
        return LinearMap(LinearMap(xa, Rotation(name).Matrix()) - xa, B(name)) * State<PsoftSettings>(name).Scaling;
    }
}
