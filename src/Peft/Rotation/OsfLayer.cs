namespace Engine.Peft.Rotation;

/// <summary>
/// A <see cref="Linear"/> with OSF adapters (PEFT's <c>osf.Linear</c>, osf/layer.py and utils.py): the weight is used as
/// W' = U_h diag(S_h) V_h + U_l diag(S_l) V_l, from the thin SVD W = U S V of the base weight split after the top k =
/// effective_rank triplets. The low part trains (<see cref="OsfLowPart"/>); the high part is frozen and, as in PEFT,
/// not saved: it is recomputed from W when an adapter is added or loaded (U_h S_h V_h, U_h U_hᵀ and V_hᵀ V_h do not
/// depend on the SVD's sign choices). In training mode the gradients of U_l and V_l are projected off the high
/// subspaces (<see cref="OsfGradientProjection"/>); in evaluation mode they are the exact derivative. As in PEFT only the
/// first active adapter is used. Merge writes W' into the base; unmerge puts back the weight the merge replaced (a
/// copy the layer keeps; PEFT keeps none and only warns).
/// </summary>
public sealed class OsfLayer : AdapterLayer
{
    sealed record Settings(int Rank, Tensor UHigh, Tensor SHigh, Tensor VHigh);

    readonly Stack<Tensor> _replaced = new();

    /// <summary>Wraps <paramref name="baseLayer"/>.</summary>
    public OsfLayer(Linear baseLayer) : base(baseLayer) { }

    /// <summary>The trainable low part of adapter <paramref name="name"/>.</summary>
    public OsfLowPart Low(string name) => ModuleOf<OsfLowPart>("osf_svd_params", name);

    /// <summary>The frozen rank k of adapter <paramref name="name"/>.</summary>
    public int EffectiveRank(string name) => State<Settings>(name).Rank;

    /// <summary>The frozen high part of adapter <paramref name="name"/>: U_h [out, k], S_h [k], V_h [k, in], on the low part's device and dtype.</summary>
    public (Tensor U, Tensor S, Tensor V) High(string name)
    {
        var s = State<Settings>(name);
        var like = Low(name).U;
        Tensor Fit(Tensor t) => t.To(like.DType).To(like.Device);
        return (Fit(s.UHigh), Fit(s.SHigh), Fit(s.VHigh));
    }

    /// <inheritdoc/>
    public override IEnumerable<PlannedTensor> PlanAdapter(AdapterContext context)
    {
        int n = Math.Min(OutFeatures, InFeatures) - Rank(context);
        return [Planned("osf_svd_params", "U_low", OutFeatures, n), Planned("osf_svd_params", "S_low", n), Planned("osf_svd_params", "V_low", n, InFeatures)];
    }

    int Rank(AdapterContext context)
    {
        int min = Math.Min(OutFeatures, InFeatures);
        int k = context.ConfigAs<OsfConfig>().EffectiveRankFor(context.Path, min);
        if (k < 1) throw new ArgumentException($"OsfLayer: effective_rank must be positive at '{context.Path.External}' (min(out, in) = {min}), got {k}");
        // PEFT accepts k = min(out, in) with empty low tensors (nothing trains); the engine refuses it.
        if (k >= min) throw new ArgumentException($"OsfLayer: effective_rank {k} at '{context.Path.External}' leaves no trainable directions (min(out, in) = {min})");
        return k;
    }

    /// <inheritdoc/>
    protected override void CreateAdapter(AdapterContext context)
    {
        int k = Rank(context);
        var w = BaseLayer.Weight;
        // PEFT's decompose_weight_matrix: torch.linalg.svd of W (float32 there, double here), split after k.
        var (u, s, vh) = Linalg.Svd(w.Detach().To(Device.Cpu).To(DType.Float64));
        int min = s.Size(0), n = min - k;
        Tensor Cast(Tensor t) => t.Contiguous().To(w.DType);
        // The high part stays in double precision on the host; High() gives it in the low part's dtype and device.
        SetState(context.Name, new Settings(k, u.Narrow(1, 0, k).Contiguous(), s.Narrow(0, 0, k).Contiguous(), vh.Narrow(0, 0, k).Contiguous()));
        var low = new OsfLowPart(Cast(u.Narrow(1, k, n)).To(w.Device), Cast(s.Narrow(0, k, n)).To(w.Device), Cast(vh.Narrow(0, k, n)).To(w.Device));
        AddModule("osf_svd_params", context.Name, low);
    }

    /// <summary>W' [out, in] of adapter <paramref name="name"/> (PEFT's <c>reconstruct_weight_matrix</c>).</summary>
    public Tensor Reconstruct(string name)
    {
        var (uh, sh, vh) = High(name);
        var low = Low(name);
        Tensor ul = low.U, vl = low.V;
        if (Training)
        {
            ul = OsfGradientProjection.OfColumns(ul, uh);
            vl = OsfGradientProjection.OfRows(vl, vh);
        }
        return (uh * sh.Unsqueeze(0)) % vh + (ul * low.S.Unsqueeze(0)) % vl;
    }

    /// <inheritdoc/>
    protected override Tensor ForwardAdapters(Tensor input, IReadOnlyList<string> adapters)
    {
        var w = Reconstruct(adapters[0]);
        var shape = input.Shape;
        shape[^1] = OutFeatures;
        var y = input.Reshape(-1, InFeatures).MatMul(w.T).Reshape(shape);
        return BaseLayer.Bias is { } b ? y + b : y;
    }

    /// <inheritdoc/>
    public override bool IsMergeable(string name) => true;

    /// <inheritdoc/>
    protected override (Tensor Weight, Tensor? Bias) MergeWeights(string name, Tensor weight, Tensor? bias)
    {
        _replaced.Push(weight.Clone());
        return (Reconstruct(name).Detach(), bias);
    }

    /// <inheritdoc/>
    protected override (Tensor Weight, Tensor? Bias) UnmergeWeights(string name, Tensor weight, Tensor? bias) =>
        (_replaced.Pop().To(weight.Device), bias);
}
