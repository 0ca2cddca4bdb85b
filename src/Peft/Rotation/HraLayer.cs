namespace Engine.Peft.Rotation;

/// <summary>
/// A <see cref="Linear"/> with HRA adapters (PEFT's <c>hra.HRALinear</c>, hra/layer.py): y = x (W H)ᵀ + b with
/// H = H_0 H_1 ⋯ H_{r−1}, H_i = I − 2 û_i û_iᵀ and û_i = u_i / ‖u_i‖ the columns of <c>hra_u</c> [in, r] (with apply_GS,
/// Û orthonormalised by Gram–Schmidt and H = I − 2 Û Ûᵀ). The bias is unchanged. A weight transform: W H is formed
/// by reflecting the rows of W one reflection at a time (never the in × in matrix H); the inverse applies the
/// reflections in reverse order (each H_i is its own inverse), as PEFT's unmerge does.
/// </summary>
public sealed class HraLayer : WeightTransformAdapterLayer
{
    sealed record Settings(int R, bool ApplyGS);

    /// <summary>Wraps <paramref name="baseLayer"/>.</summary>
    public HraLayer(Linear baseLayer) : base(baseLayer) { }

    /// <summary>U [in, r] of adapter <paramref name="name"/> (unnormalised columns).</summary>
    public Tensor U(string name) => Parameter("hra_u", name);

    /// <inheritdoc/>
    public override IEnumerable<PlannedTensor> PlanAdapter(AdapterContext context)
    {
        var c = context.ConfigAs<HraConfig>();
        if (c.R < 1) throw new ArgumentException($"HraLayer: r must be positive at '{context.Path.External}', got {c.R}");
        return [Planned("hra_u", null, InFeatures, c.R)];
    }

    /// <inheritdoc/>
    protected override void CreateAdapter(AdapterContext context)
    {
        var c = context.ConfigAs<HraConfig>();
        PlanAdapter(context).ToList();
        SetState(context.Name, new Settings(c.R, c.ApplyGS));
        var dtype = BaseLayer.Weight.DType;
        Tensor u;
        if (c.InitWeights && c.R % 2 == 0 && !c.ApplyGS)
        {
            // PEFT's symmetric start: kaiming(√5) on [in, r/2], each column repeated twice (repeat_interleave), so the
            // reflections cancel in pairs and H = I.
            var half = KaimingInit.Uniform(InFeatures, c.R / 2, dtype, context.Generator);
            u = Tensor.Stack([half, half], 2).Reshape(InFeatures, c.R);
        }
        // Odd r (PEFT warns), init_weights false, or apply_GS: with repeated columns Gram–Schmidt would normalise rounding
        // noise (PEFT's H is then not I either), so Gram–Schmidt adapters start from distinct kaiming columns.
        else u = KaimingInit.Uniform(InFeatures, c.R, dtype, context.Generator);
        AddParameter("hra_u", context.Name, u);
    }

    /// <summary>The columns of U normalised (û_i = u_i / ‖u_i‖), or orthonormalised by Gram–Schmidt with apply_GS.</summary>
    public Tensor Directions(string name)
    {
        var u = U(name);
        if (!State<Settings>(name).ApplyGS) return u / u.Norm(2, [0], keepDim: true);
        // PEFT's loop: each column minus its projections on the earlier (already normalised) ones, then normalised.
        var columns = new List<Tensor>();
        for (int i = 0; i < u.Size(1); i++)
        {
            var ui = u.Narrow(1, i, 1);
            foreach (var q in columns) ui = ui - (q.T % ui) * q;
            columns.Add(ui / ui.Norm());
        }
        return Tensor.Concat(columns.ToArray(), 1);
    }

    /// <summary>H [in, in] of adapter <paramref name="name"/> (for tests and inspection; the forward never forms it).</summary>
    public Tensor Rotation(string name)
    {
        var eye = Tensor.Eye(InFeatures, dtype: U(name).DType).To(U(name).Device);
        return Reflect(name, eye, reverse: false);
    }

    /// <inheritdoc/>
    public override (Tensor Weight, Tensor? Bias) Transform(string name, Tensor weight, Tensor? bias) => (Reflect(name, weight, reverse: false), bias);

    /// <inheritdoc/>
    public override (Tensor Weight, Tensor? Bias) InverseTransform(string name, Tensor weight, Tensor? bias) => (Reflect(name, weight, reverse: true), bias);

    // W H (or W Hᵀ = W H⁻¹ with reverse): each reflection maps a row w to w − 2 (w û) ûᵀ.
    Tensor Reflect(string name, Tensor weight, bool reverse)
    {
        var q = Directions(name).To(weight.DType);
        if (State<Settings>(name).ApplyGS) return weight - (weight % q) % q.T * 2; // H = I − 2 Û Ûᵀ is symmetric and its own inverse
        int r = q.Size(1);
        for (int k = 0; k < r; k++)
        {
            var ui = q.Narrow(1, reverse ? r - 1 - k : k, 1);
            weight = weight - (weight % ui) % ui.T * 2;
        }
        return weight;
    }

    /// <summary>‖I − ÛᵀÛ‖_F² of adapter <paramref name="name"/> (the paper's orthogonality penalty for this layer).</summary>
    public Tensor OrthogonalityPenalty(string name)
    {
        var q = Directions(name);
        var eye = Tensor.Eye(q.Size(1), dtype: q.DType).To(q.Device);
        return (eye - q.T % q).Square().Sum();
    }
}
