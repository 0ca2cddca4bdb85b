namespace Engine.Peft.Tucker;

/// <summary>
/// A <see cref="Linear"/> with FLoRA adapters (the reference's <c>flora.layers.Linear</c>, N = 2): y = x W0ᵀ + b0 +
/// drop(x) ΔWᵀ, ΔW = s · (G ×_1 P0 ×_2 P1)ᵀ = s · P1 Gᵀ P0ᵀ [out, in], formed in full each call as the reference does.
/// Containers: <c>flora_layer.{name}</c> (<see cref="FloraCore"/>) and <c>flora_dropout.{name}</c>. Mergeable (the
/// reference leaves merging as a TODO; ΔW is explicit).
/// </summary>
public sealed class FloraLayer : AdditiveAdapterLayer
{
    /// <summary>Wraps <paramref name="baseLayer"/>.</summary>
    public FloraLayer(Linear baseLayer) : base(baseLayer) { }

    /// <summary>The core and factors of adapter <paramref name="name"/>.</summary>
    public FloraCore Core(string name) => ModuleOf<FloraCore>("flora_layer", name);

    /// <summary>The scale s of adapter <paramref name="name"/>.</summary>
    public double Scaling(string name) => State<FloraSettings>(name).Scaling;

    /// <inheritdoc/>
    public override IEnumerable<PlannedTensor> PlanAdapter(AdapterContext context)
    {
        var r = context.ConfigAs<FloraConfig>().R;
        if (r.Count != 2 || r.Any(x => x < 1)) throw new ArgumentException($"FloraLayer: a Linear needs two positive ranks at '{context.Path.External}', got [{string.Join(", ", r)}]");
        return [Planned("flora_layer", "param_G", r[0], r[1]), Planned("flora_layer", "param_0", InFeatures, r[0]), Planned("flora_layer", "param_1", OutFeatures, r[1])];
    }

    /// <inheritdoc/>
    protected override void CreateAdapter(AdapterContext context)
    {
        var c = context.ConfigAs<FloraConfig>();
        // The plan validates the ranks with the message it gives.
        PlanAdapter(context).ToList();
        var ranks = c.R;
        SetState(context.Name, new FloraSettings(c.Scaling(ranks)));
        var g = context.Generator;
        AddDropout("flora_dropout", context.Name, c.DropRate, g);
        var core = AddModule("flora_layer", context.Name, new FloraCore([InFeatures, OutFeatures], ranks));
        var p0 = core.Factors[0];
        var p1 = core.Factors[1];
        using var _ = Autograd.Autograd.NoGrad();
        switch (c.InitWeights)
        {
            case "loralib":
                // Subspace-Tuning loralib/layers_flora.py: A, B ~ N(0, 0.02²), E = 0.
                Init.Normal(p0, 0, 0.02, g);
                Init.Normal(p1, 0, 0.02, g);
                break;
            case "peft":
                // Subspace-Tuning CR_MR/.../tuners/flora.py: A [r, in] and B [out, r] Kaiming-uniform (a = √5), E = 0.
                p0.CopyFrom(KaimingInit.Uniform(ranks[0], InFeatures, p0.DType, g).T.Contiguous());
                p1.CopyFrom(KaimingInit.Uniform(OutFeatures, ranks[1], p1.DType, g));
                break;
            default:
                // The reference's init_parameters: kaiming_normal_(P_i, a = √3) on [d_i, r_i] (fan_in = r_i), G = 0.
                foreach (var p in core.Factors) Init.KaimingNormal(p, Math.Sqrt(3), generator: g);
                if (c.InitWeights == "random") Init.KaimingNormal(core.Core, Math.Sqrt(3), generator: g);
                break;
        }
    }

    /// <summary>s · P1 Gᵀ P0ᵀ [out, in]: the Tucker product over [in, out], transposed.</summary>
    public override Tensor DeltaWeight(string name) => Core(name).Product().T * Scaling(name);
}

/// <summary>One FLoRA adapter's scale on one layer.</summary>
/// <param name="Scaling">s (<see cref="FloraConfig.Scaling"/>).</param>
public sealed record FloraSettings(double Scaling);
