namespace Engine.Peft.Inserted;

/// <summary>
/// A Compacter adapter on the output of a <see cref="Linear"/> (arXiv 2106.04647, section 3; AdapterHub's
/// <c>Adapter</c> with <c>phm_layer</c>): y = h + PHM_up(f(PHM_down(h))) with h = x W0^T + b0, where a PHM projection
/// from a to b is z ↦ z H + bias, H = Σ_i A_i ⊗ (W_left_i W_right_i) [a, b] (<see cref="PhmLinear.KroneckerSum"/>),
/// A the model's shared rules (<see cref="CompacterRules"/>), W_left [n, a/n, rank], W_right [n, rank, b/n]
/// (<c>adapter_down.W_left</c>...), both Xavier-normal per slice, bias zero. The bottleneck width is
/// out / reduction_factor; n must divide it and the output width.
/// </summary>
public sealed class CompacterLayer : AdapterLayer
{
    readonly Dictionary<string, CompacterRules> _rules = new();

    /// <summary>Wraps <paramref name="baseLayer"/>.</summary>
    public CompacterLayer(Linear baseLayer) : base(baseLayer) { }

    /// <summary>The down-projection's factors of adapter <paramref name="name"/>.</summary>
    public CompacterProjection DownProjection(string name) => ModuleOf<CompacterProjection>("adapter_down", name);

    /// <summary>The up-projection's factors of adapter <paramref name="name"/>.</summary>
    public CompacterProjection UpProjection(string name) => ModuleOf<CompacterProjection>("adapter_up", name);

    /// <summary>The shared rules A [n, n, n] adapter <paramref name="name"/> uses.</summary>
    public Tensor Rules(string name) => _rules[name].Rules;

    /// <inheritdoc/>
    public override IEnumerable<PlannedTensor> PlanAdapter(AdapterContext context)
    {
        var c = context.ConfigAs<CompacterConfig>();
        int m = c.BottleneckFor(OutFeatures);
        if (OutFeatures % c.PhmDim != 0 || m % c.PhmDim != 0)
            throw new ArgumentException($"CompacterLayer: '{context.Path.External}' has width {OutFeatures} and bottleneck {m} (reduction_factor {c.ReductionFactor}); phm_dim {c.PhmDim} must divide both");
        return [.. Plan("adapter_down", c, OutFeatures, m), .. Plan("adapter_up", c, m, OutFeatures)];
    }

    IEnumerable<PlannedTensor> Plan(string container, CompacterConfig c, int inF, int outF)
    {
        int n = c.PhmDim;
        if (c.FactorizedPhmW)
        {
            yield return Planned(container, "W_left", n, inF / n, c.PhmRank);
            yield return Planned(container, "W_right", n, c.PhmRank, outF / n);
        }
        else yield return Planned(container, "W", n, inF / n, outF / n);
        if (c.PhmBias) yield return Planned(container, "b", outF);
    }

    /// <inheritdoc/>
    protected override void CreateAdapter(AdapterContext context)
    {
        var c = context.ConfigAs<CompacterConfig>();
        PlanAdapter(context).ToList();  // the divisibility check
        int m = c.BottleneckFor(OutFeatures);
        var dtype = BaseLayer.Weight.DType;
        SetState(context.Name, c.NonLinearity);
        _rules[context.Name] = context.ModelPartAs<CompacterRules>();
        AddModule("adapter_down", context.Name, new CompacterProjection(c, OutFeatures, m, dtype, context.Generator));
        AddModule("adapter_up", context.Name, new CompacterProjection(c, m, OutFeatures, dtype, context.Generator));
    }

    /// <inheritdoc/>
    protected override void OnRemoving(string name) => _rules.Remove(name);

    /// <inheritdoc/>
    protected override Tensor ForwardAdapters(Tensor input, IReadOnlyList<string> adapters)
    {
        var result = BaseLayer.Forward(input);
        var h = result;
        foreach (var name in adapters)
        {
            var rules = Rules(name);
            var z = DownProjection(name).Forward(h, rules);
            z = State<string>(name) switch { "relu" => z.Relu(), "tanh" => z.Tanh(), _ => z.Gelu() };
            result = result + UpProjection(name).Forward(z, rules);
        }
        return result;
    }
}

/// <summary>
/// One PHM projection of a Compacter adapter from <see cref="InFeatures"/> to <see cref="OutFeatures"/>: its own
/// W_left [n, in/n, rank] and W_right [n, rank, out/n] (or a full W [n, in/n, out/n]) and bias b [out]; the rules
/// A come from the model (shared). z ↦ z H + b with H = Σ_i A_i ⊗ W_i [in, out].
/// </summary>
public sealed class CompacterProjection : Module
{
    /// <summary>Creates the factors, Xavier-normal per slice (the reference's <c>init_W</c>), bias zero.</summary>
    public CompacterProjection(CompacterConfig c, int inFeatures, int outFeatures, DType dtype, Generator generator)
    {
        InFeatures = inFeatures;
        OutFeatures = outFeatures;
        int n = c.PhmDim;
        if (c.FactorizedPhmW)
        {
            RegisterParameter("W_left", XavierNormalSlices([n, inFeatures / n, c.PhmRank], dtype, generator));
            RegisterParameter("W_right", XavierNormalSlices([n, c.PhmRank, outFeatures / n], dtype, generator));
        }
        else RegisterParameter("W", XavierNormalSlices([n, inFeatures / n, outFeatures / n], dtype, generator));
        if (c.PhmBias) RegisterParameter("b", Tensor.Zeros([outFeatures], dtype));
    }

    public int InFeatures { get; }
    public int OutFeatures { get; }

    /// <summary>W [n, in/n, out/n]: W_left W_right per slice, or the full W.</summary>
    public Tensor W => FindParameter("W") ?? GetParameter("W_left").MatMul(GetParameter("W_right"));

    /// <summary>The bias [out], or null without one.</summary>
    public Tensor? Bias => FindParameter("b");

    /// <summary>H = Σ_i A_i ⊗ W_i [in, out] for the rules <paramref name="rules"/> [n, n, n].</summary>
    public Tensor H(Tensor rules) => PhmLinear.KroneckerSum(rules, W);

    /// <summary>z H + b for z [..., in].</summary>
    public Tensor Forward(Tensor z, Tensor rules)
    {
        var shape = z.Shape;
        shape[^1] = OutFeatures;
        var rows = z.Reshape(-1, InFeatures);
        var y = Bias is null ? rows.MatMul(H(rules)) : Tensor.Addmm(Bias, rows, H(rules));
        return y.Reshape(shape);
    }

    // Each slice [rows, cols] Xavier-normal: std = sqrt(2 / (rows + cols)) (torch's fans of a 2-D tensor).
    static Tensor XavierNormalSlices(int[] shape, DType dtype, Generator generator) =>
        Tensor.Randn(shape, 0, Math.Sqrt(2.0 / (shape[1] + shape[2])), dtype, generator);
}
