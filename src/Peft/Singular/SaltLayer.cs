using Engine.Peft.LowRank;

namespace Engine.Peft.Singular;

/// <summary>
/// A <see cref="Linear"/> with SALT adapters (BioMedIA-MBZUAI/SALT SAM2 <c>SALTLinear</c>, spec adapters-lowrank.md
/// section 6). W0 = U diag(S) Vᵀ (thin, <see cref="WeightSvd"/>; U <c>salt_U</c> [out, k], S <c>salt_S</c> [k], Vᵀ
/// <c>salt_Vh</c> [k, in], frozen and saved: the dense X Y block and the element-wise ReLU make W' depend on the signs
/// of the singular vectors). Σ' [k, k] has diag(α ⊙ S_top + β) in its top-left ρ × ρ block, diag(S_rest) + X Y in its
/// bottom-right (k − ρ)² block and zeros elsewhere, and W' = U ReLU(Σ') Vᵀ, the ReLU on the whole of Σ'. Trained:
/// α (<c>salt_scale_A</c>, ones) and β (<c>salt_shift_B</c>, zeros) [ρ]; X (<c>salt_X</c> [k − ρ, r_lora],
/// kaiming-uniform with ReLU gain, U(±√(6/r_lora))) and Y (<c>salt_Y</c> [r_lora, k − ρ], zeros): the SAM2 file's
/// start, exact at init (the SAM-v1 file's 0.01·N(0,1) for both is not).
/// <para>The layer holds the adapter as ΔW = U (ReLU(Σ') − diag(S)) Vᵀ, which is W' − W0 up to rounding (W0 − U diag(S) Vᵀ)
/// and exactly 0 at init; merge adds it, unmerge subtracts it and restores W0.</para>
/// </summary>
public sealed class SaltLayer : AdditiveAdapterLayer
{
    sealed record Settings(int K, int Rho, int RLora);

    /// <summary>Wraps <paramref name="baseLayer"/>.</summary>
    public SaltLayer(Linear baseLayer) : base(baseLayer) { }

    /// <summary>α [ρ].</summary>
    public Tensor Scale(string name) => Parameter("salt_scale_A", name);

    /// <summary>β [ρ].</summary>
    public Tensor Shift(string name) => Parameter("salt_shift_B", name);

    /// <summary>X [k − ρ, r_lora], or null when there is no X Y (ρ = k or r_lora = 0).</summary>
    public Tensor? X(string name) => HasLowRank(name) ? Parameter("salt_X", name) : null;

    /// <summary>Y [r_lora, k − ρ], or null when there is no X Y.</summary>
    public Tensor? Y(string name) => HasLowRank(name) ? Parameter("salt_Y", name) : null;

    /// <summary>U [out, k] (frozen).</summary>
    public Tensor U(string name) => Buffer("salt_U", name);

    /// <summary>S [k] (frozen).</summary>
    public Tensor S(string name) => Buffer("salt_S", name);

    /// <summary>Vᵀ [k, in] (frozen).</summary>
    public Tensor Vh(string name) => Buffer("salt_Vh", name);

    /// <summary>ρ, the number of scaled and shifted singular values.</summary>
    public int TopRank(string name) => State<Settings>(name).Rho;

    bool HasLowRank(string name) => State<Settings>(name) is { } s && s.K > s.Rho && s.RLora > 0;

    Settings Check(AdapterContext context)
    {
        var c = context.ConfigAs<SaltConfig>();
        int k = Math.Min(OutFeatures, InFeatures);
        return new Settings(k, c.TopRank(k), c.RLora);
    }

    /// <inheritdoc/>
    public override IEnumerable<PlannedTensor> PlanAdapter(AdapterContext context)
    {
        var s = Check(context);
        var plan = new List<PlannedTensor> { Planned("salt_scale_A", null, s.Rho), Planned("salt_shift_B", null, s.Rho) };
        if (s.K > s.Rho && s.RLora > 0)
        {
            plan.Add(Planned("salt_X", null, s.K - s.Rho, s.RLora));
            plan.Add(Planned("salt_Y", null, s.RLora, s.K - s.Rho));
        }
        plan.Add(Planned("salt_U", null, OutFeatures, s.K));
        plan.Add(Planned("salt_S", null, s.K));
        plan.Add(Planned("salt_Vh", null, s.K, InFeatures));
        return plan;
    }

    /// <inheritdoc/>
    protected override void CreateAdapter(AdapterContext context)
    {
        var s = Check(context);
        var name = context.Name;
        var weight = BaseLayer.Weight;
        var (dtype, device) = (weight.DType, weight.Device);
        SetState(name, s);
        AddParameter("salt_scale_A", name, Tensor.Ones([s.Rho], dtype, device));
        AddParameter("salt_shift_B", name, Tensor.Zeros([s.Rho], dtype, device));
        if (s.K > s.Rho && s.RLora > 0)
        {
            // kaiming_uniform_(X, mode="fan_in", nonlinearity="relu"): gain √2, fan_in = r_lora, bound √(6 / r_lora).
            double bound = Math.Sqrt(6.0 / s.RLora);
            AddParameter("salt_X", name, Tensor.Rand([s.K - s.Rho, s.RLora], -bound, bound, dtype, context.Generator).To(device));
            AddParameter("salt_Y", name, Tensor.Zeros([s.RLora, s.K - s.Rho], dtype, device));
        }
        var (u, sv, vh) = WeightSvd.Thin(weight);
        AddBuffer("salt_U", name, u.To(dtype).To(device).Contiguous());
        AddBuffer("salt_S", name, sv.To(dtype).To(device).Contiguous());
        AddBuffer("salt_Vh", name, vh.To(dtype).To(device).Contiguous());
    }

    static Tensor Diag(Tensor v) => Tensor.Eye(v.Size(0), dtype: v.DType).To(v.Device) * v.Unsqueeze(0);

    /// <summary>Σ' [k, k] before the ReLU: blockdiag(diag(α ⊙ S_top + β), diag(S_rest) + X Y).</summary>
    public Tensor ModifiedSingularValues(string name)
    {
        var st = State<Settings>(name);
        var s = S(name);
        var top = Diag(Scale(name) * s.Narrow(0, 0, st.Rho) + Shift(name));
        if (st.K == st.Rho) return top;
        var bottom = Diag(s.Narrow(0, st.Rho, st.K - st.Rho));
        if (X(name) is { } x) bottom = bottom + x % Y(name)!;
        return Tensor.Concat([top.Pad([0, st.K - st.Rho]), bottom.Pad([st.Rho, 0])], 0);
    }

    // ReLU(Σ') − diag(S) [k, k]: the change of the singular-value matrix.
    Tensor CoreChange(string name) => ModifiedSingularValues(name).Relu() - Diag(S(name));

    /// <summary>ΔW = U (ReLU(Σ') − diag(S)) Vᵀ [out, in].</summary>
    public override Tensor DeltaWeight(string name) => U(name) % CoreChange(name) % Vh(name);

    /// <inheritdoc/>
    protected override Tensor Contribution(string name, Tensor x) => LinearMap(LinearMap(LinearMap(x, Vh(name)), CoreChange(name)), U(name));

    /// <summary>SALT.py's reg_loss of this layer: ‖α ⊙ S_top + β − S_top‖ + ‖X Y‖_F (0 at init).</summary>
    public Tensor Penalty(string name)
    {
        var st = State<Settings>(name);
        var top = S(name).Narrow(0, 0, st.Rho);
        var penalty = (Scale(name) * top + Shift(name) - top).Norm();
        return X(name) is { } x ? penalty + (x % Y(name)!).Norm() : penalty;
    }
}
