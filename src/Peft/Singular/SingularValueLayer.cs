using Engine.Peft.LowRank;

namespace Engine.Peft.Singular;

/// <summary>
/// The "train singular values" mechanism shared by SVFit (arXiv 2409.05926, paper only) and CLIP-SVD (arXiv
/// 2509.03740, HealthX-Lab/CLIP-SVD <c>svf_utils/svf_torch.py</c>), spec adapters-lowrank.md sections 5 and 7: with
/// W0 = U diag(S) Vᵀ (<see cref="WeightSvd"/>), the top r triplets are kept, U_r [out, r], S_r [r], V_rᵀ [r, in]
/// frozen, and only s ∈ R^r trains, starting at S_r:
/// <code>W' = W_rest + U_r diag(s) V_rᵀ,   W_rest = W0 − U_r diag(S_r) V_rᵀ   (frozen)</code>
/// The layer holds it as the additive change ΔW = U_r diag(s − S_r) V_rᵀ of the base weight (exactly W' − W0, zero at
/// init bit for bit, and merged/unmerged as W ± ΔW). A method that drops the rest (<see cref="ISingularValueConfig.KeepsResidual"/>
/// false with r &lt; k: CLIP-SVD's SVD_Linear keeps only its top r' triplets) adds −W_rest as well, W_rest formed from
/// the base weight it was created on. Saved: s (trained), U_r, S_r and V_rᵀ (<c>&lt;prefix&gt;_s</c> or
/// <c>&lt;prefix&gt;_vector_S</c>, <c>&lt;prefix&gt;_U</c>, <c>&lt;prefix&gt;_S</c>, <c>&lt;prefix&gt;_Vh</c>), so a reload
/// does not depend on the SVD routine.
/// </summary>
public sealed class SingularValueLayer : AdditiveAdapterLayer
{
    sealed record Settings(string Prefix, int R, bool RowVector, Tensor? BaseSnapshot);

    (Tensor Weight, double Checksum, Tensor U, Tensor S, Tensor Vh)? _svd;

    /// <summary>Wraps <paramref name="baseLayer"/>.</summary>
    public SingularValueLayer(Linear baseLayer) : base(baseLayer) { }

    /// <summary>The number of trained singular values of adapter <paramref name="name"/>.</summary>
    public int Rank(string name) => State<Settings>(name).R;

    /// <summary>The trained singular values s [r] of adapter <paramref name="name"/>.</summary>
    public Tensor Values(string name)
    {
        var st = State<Settings>(name);
        var s = Parameter(TrainedKey(st.Prefix, st.RowVector), name);
        return st.RowVector ? s.Reshape(st.R) : s;
    }

    /// <summary>U_r [out, r] (frozen).</summary>
    public Tensor U(string name) => Buffer(State<Settings>(name).Prefix + "_U", name);

    /// <summary>S_r [r], the base weight's singular values (frozen; s starts here).</summary>
    public Tensor S(string name) => Buffer(State<Settings>(name).Prefix + "_S", name);

    /// <summary>V_rᵀ [r, in] (frozen).</summary>
    public Tensor Vh(string name) => Buffer(State<Settings>(name).Prefix + "_Vh", name);

    static string TrainedKey(string prefix, bool rowVector) => prefix + (rowVector ? "_vector_S" : "_s");

    static ISingularValueConfig Of(AdapterContext context) => context.Config as ISingularValueConfig
        ?? throw new ArgumentException($"SingularValueLayer: a {context.Config.GetType().Name} is not a singular-value config");

    // The thin SVD of the current base weight, computed once for PlanAdapter and CreateAdapter.
    (Tensor U, Tensor S, Tensor Vh) Svd()
    {
        var w = BaseLayer.Weight;
        double checksum = w.Detach().Abs().Sum().ToDoubleArray()[0];
        if (_svd is { } c && ReferenceEquals(c.Weight, w) && c.Checksum == checksum) return (c.U, c.S, c.Vh);
        var (u, s, vh) = WeightSvd.Thin(w);
        _svd = (w, checksum, u, s, vh);
        return (u, s, vh);
    }

    int RankOf(AdapterContext context)
    {
        var c = Of(context);
        int k = Math.Min(OutFeatures, InFeatures);
        // A file records its rank (the energy rule's r need not be recomputed to check its shapes).
        var fromFile = context.FileShape(TrainedKey(c.TensorPrefix, c.StoresRowVector));
        int r = fromFile is { Length: > 0 } shape ? shape[^1] : c.RankFor(k, () => Svd().S);
        if (r < 1 || r > k)
            throw new ArgumentException($"SingularValueLayer: the number of trained singular values must be between 1 and min(out, in) = {k} at '{context.Path.External}', got {r}");
        return r;
    }

    /// <inheritdoc/>
    public override IEnumerable<PlannedTensor> PlanAdapter(AdapterContext context)
    {
        var c = Of(context);
        int r = RankOf(context);
        var p = c.TensorPrefix;
        return [c.StoresRowVector ? Planned(p + "_vector_S", null, 1, r) : Planned(p + "_s", null, r),
            Planned(p + "_U", null, OutFeatures, r), Planned(p + "_S", null, r), Planned(p + "_Vh", null, r, InFeatures)];
    }

    /// <inheritdoc/>
    protected override void CreateAdapter(AdapterContext context)
    {
        var c = Of(context);
        int r = RankOf(context), k = Math.Min(OutFeatures, InFeatures);
        var weight = BaseLayer.Weight;
        var dtype = weight.DType;
        var (u, sv, vh) = Svd();
        _svd = null;
        var ur = u.Narrow(1, 0, r).To(dtype).To(weight.Device).Contiguous();
        var sr = sv.Narrow(0, 0, r).To(dtype).To(weight.Device).Contiguous();
        var vhr = vh.Narrow(0, 0, r).To(dtype).To(weight.Device).Contiguous();
        var snapshot = !c.KeepsResidual && r < k ? weight.Detach().Clone() : null;
        SetState(context.Name, new Settings(c.TensorPrefix, r, c.StoresRowVector, snapshot));
        AddParameter(TrainedKey(c.TensorPrefix, c.StoresRowVector), context.Name, c.StoresRowVector ? sr.Reshape(1, r).Clone() : sr.Clone());
        AddBuffer(c.TensorPrefix + "_U", context.Name, ur);
        AddBuffer(c.TensorPrefix + "_S", context.Name, sr);
        AddBuffer(c.TensorPrefix + "_Vh", context.Name, vhr);
    }

    // −W_rest = U_r diag(S_r) V_rᵀ − W0 for a method that drops the rest, else null.
    Tensor? DroppedRest(string name)
    {
        var snapshot = State<Settings>(name).BaseSnapshot;
        if (snapshot is null) return null;
        var u = U(name);
        return (u * S(name).Unsqueeze(0)) % Vh(name) - snapshot.To(u.DType).To(u.Device);
    }

    /// <summary>ΔW = U_r diag(s − S_r) V_rᵀ (minus W_rest for a method that drops it) [out, in].</summary>
    public override Tensor DeltaWeight(string name)
    {
        var delta = (U(name) * (Values(name) - S(name)).Unsqueeze(0)) % Vh(name);
        return DroppedRest(name) is { } rest ? delta + rest : delta;
    }

    /// <inheritdoc/>
    protected override Tensor Contribution(string name, Tensor x)
    {
        var y = LinearMap(LinearMap(x, Vh(name)) * (Values(name) - S(name)), U(name));
        return DroppedRest(name) is { } rest ? y + LinearMap(x, rest) : y;
    }
}
