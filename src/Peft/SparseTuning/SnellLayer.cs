namespace Engine.Peft.SparseTuning;

/// <summary>
/// A <see cref="Linear"/> with SNELL adapters (<see cref="SnellConfig"/>; ssfgunner/SNELL
/// <c>model/vision_transformer_timm.py</c>, spec adapters-other.md §7): y = x W0^T + b0 + dropout(x) ΔW_s^T with
/// <c>snell_in_qs</c> U [H, in, q/H] and <c>snell_out_qs</c> V [H, out, q/H] (Kaiming-uniform, a = √5, on the 3-D
/// tensors: U(±1/√(in q/H)) and U(±1/√(out q/H))). The reference stores its kernel [in, out] and applies x W_fc; the
/// engine forms the transpose [out, in] directly, ΔW[o, i] = Σ_h c_h ‖U^h_i − V^h_o‖₂, which changes nothing (the
/// quantile is over all entries). Distances as torch.cdist's matrix-product form for p = 2:
/// sqrt(clamp_min(‖v‖² + ‖u‖² − 2 v·u, 1e-30)).
/// Deviation: the reference also applies DropPath(0.1) (per-sample stochastic depth of the adapter's output) in
/// training; the engine does not.
/// </summary>
public sealed class SnellLayer : AdditiveAdapterLayer
{
    /// <summary>Wraps <paramref name="baseLayer"/>.</summary>
    public SnellLayer(Linear baseLayer) : base(baseLayer) { }

    /// <summary>U [H, in, q/H].</summary>
    public Tensor InQs(string name) => Parameter("snell_in_qs", name);

    /// <summary>V [H, out, q/H].</summary>
    public Tensor OutQs(string name) => Parameter("snell_out_qs", name);

    /// <inheritdoc/>
    public override IEnumerable<PlannedTensor> PlanAdapter(AdapterContext context)
    {
        var c = context.ConfigAs<SnellConfig>();
        int d = c.LowRankDim / c.NumHs;
        return [Planned("snell_in_qs", null, c.NumHs, InFeatures, d), Planned("snell_out_qs", null, c.NumHs, OutFeatures, d)];
    }

    /// <inheritdoc/>
    protected override void CreateAdapter(AdapterContext context)
    {
        var c = context.ConfigAs<SnellConfig>();
        int d = c.LowRankDim / c.NumHs;
        var dtype = BaseLayer.Weight.DType;
        var g = context.Generator;
        AddDropout("snell_dropout", context.Name, c.SnellDropout, g);
        AddParameter("snell_in_qs", context.Name, Init.KaimingUniform(Tensor.Zeros([c.NumHs, InFeatures, d], dtype), Math.Sqrt(5), generator: g));
        AddParameter("snell_out_qs", context.Name, Init.KaimingUniform(Tensor.Zeros([c.NumHs, OutFeatures, d], dtype), Math.Sqrt(5), generator: g));
    }

    /// <summary>The dense kernel Σ_h c_h ‖U^h_i − V^h_o‖₂ [out, in] (the reference's KLoRA, transposed).</summary>
    public Tensor Kernel(string name) => Kernel(InQs(name), OutQs(name), (SnellConfig)ConfigOf(name));

    /// <summary>The dense kernel [out, in] of factors <paramref name="u"/> [H, in, d] and <paramref name="v"/> [H, out, d].</summary>
    public static Tensor Kernel(Tensor u, Tensor v, SnellConfig config)
    {
        int h = u.Size(0);
        var uNorm = (u * u).Sum(2).Unsqueeze(1);
        var vNorm = (v * v).Sum(2, keepDim: true);
        var distance = (vNorm + uNorm - 2.0 * v.MatMul(u.Transpose(1, 2))).Clamp(min: 1e-30).Sqrt();
        var coefficients = Tensor.FromArray(Enumerable.Range(0, h).Select(config.Coefficient).ToArray(), [h, 1, 1]).To(u.DType).To(u.Device);
        return (coefficients * distance).Sum(0);
    }

    /// <summary>
    /// ΔW_s = ΔW ⊙ sg(|ΔW| ⊙ 1[|ΔW| > t]), t the linear-interpolation τ-quantile of |ΔW| (the reference's
    /// <c>sparsify</c>: F.threshold on the detached magnitudes, so kept entries become signed squares and their gradient
    /// is |ΔW| times the incoming one); the dense kernel when τ = 0.
    /// </summary>
    public static Tensor Sparsify(Tensor kernel, double tau)
    {
        if (tau == 0) return kernel;
        var magnitude = kernel.Detach().Abs();
        double t = TorchQuantile.Linear(magnitude, tau);
        return kernel * Tensor.Where(magnitude > t, magnitude, 0.0);
    }

    /// <summary>ΔW_s [out, in], recomputed from U and V (also for a merge).</summary>
    public override Tensor DeltaWeight(string name) => Sparsify(Kernel(name), ((SnellConfig)ConfigOf(name)).InitThres);
}
