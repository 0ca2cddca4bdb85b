namespace Engine.Peft.Singular;

/// <summary>
/// A <see cref="Linear"/> with LoLDU adapters (SKDDJ/LoLDU <c>minloldu/loldu.py</c> LoLDUParametrization, spec
/// adapters-lowrank.md section 4). At creation W0 [out, in] = P L U (<see cref="Linalg.Lu"/>, partial pivoting as
/// torch.linalg.lu), D = diag(U) and U ← D⁻¹U (ldu_decomposition); L_r = L[:, :r] (<c>loldu_L</c>, the reference's
/// lora_B), U_r = U[:r] (<c>loldu_U</c>, lora_A), D_r = D[:r] (<c>loldu_D</c>), P as the row order <c>loldu_P</c>
/// [out] (P[i, p_i] = 1, so (P M)_i = M_{p_i}; the reference stores the [out, out] matrix), σ = α/r
/// (<c>loldu_scaling_factor</c>, stored, not trained) and z = D_r (<c>loldu_vector_z</c>, the only trained tensor).
/// <para>W_eff = W_res + σ P L_r diag(z) U_r with W_res = W0 − σ P L_r diag(D_r) U_r. The layer holds it as
/// ΔW = σ P L_r diag(z − D_r) U_r on the base weight (W_eff − W0, exactly 0 at init), so W_res is not stored: it is
/// W0 less a product of saved tensors. Merge adds ΔW, unmerge subtracts it.</para>
/// </summary>
public sealed class LolduLayer : AdditiveAdapterLayer
{
    sealed record Settings(int R);

    /// <summary>Wraps <paramref name="baseLayer"/>.</summary>
    public LolduLayer(Linear baseLayer) : base(baseLayer) { }

    /// <summary>z [r], the trained diagonal.</summary>
    public Tensor Z(string name) => Parameter("loldu_vector_z", name);

    /// <summary>D_r [r], the pivots z starts from (frozen).</summary>
    public Tensor D(string name) => Buffer("loldu_D", name);

    /// <summary>L_r [out, r] (frozen).</summary>
    public Tensor L(string name) => Buffer("loldu_L", name);

    /// <summary>U_r [r, in] (frozen, unit upper trapezoidal rows).</summary>
    public Tensor Ur(string name) => Buffer("loldu_U", name);

    /// <summary>The row order p [out] of P (Int64).</summary>
    public Tensor RowOrder(string name) => Buffer("loldu_P", name);

    /// <summary>σ = α / r (frozen, shape [1]).</summary>
    public Tensor Scaling(string name) => Buffer("loldu_scaling_factor", name);

    int RankOf(AdapterContext context)
    {
        int r = context.ConfigAs<LolduConfig>().Rank, k = Math.Min(OutFeatures, InFeatures);
        if (r < 1 || r > k) throw new ArgumentException($"LolduLayer: rank must be between 1 and min(out, in) = {k} at '{context.Path.External}', got {r}");
        return r;
    }

    /// <inheritdoc/>
    public override IEnumerable<PlannedTensor> PlanAdapter(AdapterContext context)
    {
        int r = RankOf(context);
        return [Planned("loldu_vector_z", null, r), Planned("loldu_D", null, r), Planned("loldu_L", null, OutFeatures, r),
            Planned("loldu_U", null, r, InFeatures), PlannedIntegers("loldu_P", null, OutFeatures, OutFeatures), Planned("loldu_scaling_factor", null, 1)];
    }

    /// <inheritdoc/>
    protected override void CreateAdapter(AdapterContext context)
    {
        var c = context.ConfigAs<LolduConfig>();
        int r = RankOf(context);
        var name = context.Name;
        var weight = BaseLayer.Weight;
        var (dtype, device) = (weight.DType, weight.Device);
        // The reference factors the weight in float32 with torch.linalg.lu; the engine factors it in Float64.
        var (p, l, u) = Linalg.Lu(weight.Detach().To(Device.Cpu).To(DType.Float64));
        int n = InFeatures;
        var uData = u.ToDoubleArray();
        var dr = Enumerable.Range(0, r).Select(i => uData[(long)i * n + i]).ToArray();
        int zero = Array.FindIndex(dr, v => v == 0);
        if (zero >= 0) throw new ArgumentException($"LolduLayer: pivot {zero} of the LU factorisation of '{context.Path.External}' is 0 (the weight's leading {r} pivots must be non-zero)");
        var pivots = Tensor.FromArray(dr);
        var ur = u.Narrow(0, 0, r) / pivots.Unsqueeze(1);
        var lr = l.Narrow(1, 0, r);
        // P[i, j] = 1 at j = p_i: the row order is the column index of each row's 1.
        var order = p.ArgMax(1).To(DType.Int64);
        SetState(name, new Settings(r));
        AddParameter("loldu_vector_z", name, pivots.To(dtype).To(device).Clone());
        AddBuffer("loldu_D", name, pivots.To(dtype).To(device));
        AddBuffer("loldu_L", name, lr.To(dtype).To(device).Contiguous());
        AddBuffer("loldu_U", name, ur.To(dtype).To(device).Contiguous());
        AddBuffer("loldu_P", name, order.To(device));
        AddBuffer("loldu_scaling_factor", name, Tensor.Full([1], c.LoraAlpha / r, dtype).To(device));
    }

    // σ P L_r [out, r].
    Tensor PermutedL(string name) => L(name).IndexSelect(0, RowOrder(name)) * Scaling(name);

    /// <summary>ΔW = σ P L_r diag(z − D_r) U_r [out, in].</summary>
    public override Tensor DeltaWeight(string name) => PermutedL(name) * (Z(name) - D(name)).Unsqueeze(0) % Ur(name);

    /// <summary>W_eff = W_res + σ P L_r diag(z) U_r on the base weight W0 the adapter was created on (no merge).</summary>
    public Tensor EffectiveWeight(string name) => BaseLayer.Weight + DeltaWeight(name);

    /// <inheritdoc/>
    protected override Tensor Contribution(string name, Tensor x) => LinearMap(LinearMap(x, Ur(name)) * (Z(name) - D(name)), PermutedL(name));
}
