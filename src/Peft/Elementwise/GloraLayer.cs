namespace Engine.Peft.Elementwise;

/// <summary>
/// A <see cref="Linear"/> with GLoRA adapters (PEFT's <c>GloraLinear</c>): y = base(x) + Σ_a x ΔW_a^T + Δb_a with
/// ΔW = W0 ⊙ A + B and Δb = b0 ⊙ D + E + W0 C (PEFT writes it as Σ_a (x W'_a^T + b'_a) − n base(x), the same sum).
/// Paths <c>glora_A</c>, <c>glora_B</c> [out, in], <c>glora_C</c> [in, 1], <c>glora_D</c>, <c>glora_E</c> [out]
/// (<see cref="GloraPath"/>); C, D and E are "none" when the base has no bias. W0 and b0 are the weights before any
/// merge (<see cref="PreMergeSnapshot"/>).
/// </summary>
public sealed class GloraLayer : AdapterLayer
{
    static readonly string[] Paths = ["glora_A", "glora_B", "glora_C", "glora_D", "glora_E"];
    readonly PreMergeSnapshot _snapshot = new();

    /// <summary>Wraps <paramref name="baseLayer"/>.</summary>
    public GloraLayer(Linear baseLayer) : base(baseLayer) { }

    /// <summary>Each path's (container, kind, value shape) for <paramref name="c"/> on this layer, as PEFT's update_layer.</summary>
    IEnumerable<(string Container, string Kind, int[] Shape)> Layout(GloraConfig c)
    {
        bool bias = BaseLayer.Bias is not null;
        yield return ("glora_A", c.ConfigAB, [OutFeatures, InFeatures]);
        yield return ("glora_B", c.ConfigAB, [OutFeatures, InFeatures]);
        yield return ("glora_C", bias ? c.ConfigC : "none", [InFeatures, 1]);
        yield return ("glora_D", bias ? c.ConfigDE : "none", [OutFeatures]);
        yield return ("glora_E", bias ? c.ConfigDE : "none", [OutFeatures]);
    }

    /// <inheritdoc/>
    public override IEnumerable<PlannedTensor> PlanAdapter(AdapterContext context)
    {
        var c = context.ConfigAs<GloraConfig>();
        if (c.R < 1) throw new ArgumentException($"GloraLayer: rank must be positive at '{context.Path.External}', got {c.R}");
        return Layout(c).SelectMany(p => GloraPath.Plan(p.Kind, p.Shape, c.R).Select(t => Planned(p.Container, t.Member, t.Shape))).ToList();
    }

    /// <inheritdoc/>
    protected override void CreateAdapter(AdapterContext context)
    {
        var c = context.ConfigAs<GloraConfig>();
        foreach (var (container, kind, shape) in Layout(c))
            AddModule(container, context.Name, GloraPath.Create(kind, shape, c.R, !c.InitWeights, BaseLayer.Weight.DType, context.Generator));
    }

    /// <summary>The value of path <paramref name="path"/> (<c>glora_A</c>...) of adapter <paramref name="name"/>.</summary>
    public Tensor PathValue(string path, string name) => ModuleOf<GloraPath>(path, name).Value();

    /// <summary>ΔW = W0 ⊙ A + B [out, in] (vectors and constants broadcast against W0).</summary>
    public Tensor DeltaWeight(string name)
    {
        var w0 = _snapshot.Weight(BaseLayer.Weight);
        return (w0 * PathValue("glora_A", name) + PathValue("glora_B", name));
    }

    /// <summary>Δb = b0 ⊙ D + E + W0 C [out], or null when the base has no bias.</summary>
    public Tensor? DeltaBias(string name)
    {
        if (_snapshot.Bias(BaseLayer.Bias) is not { } b) return null;
        var w0 = _snapshot.Weight(BaseLayer.Weight);
        return (b * PathValue("glora_D", name) + PathValue("glora_E", name) + (w0 % PathValue("glora_C", name)).Reshape(OutFeatures));
    }

    /// <inheritdoc/>
    protected override Tensor ForwardAdapters(Tensor input, IReadOnlyList<string> adapters)
    {
        var result = BaseLayer.Forward(input);
        var shape = input.Shape;
        shape[^1] = OutFeatures;
        foreach (var name in adapters)
        {
            result = result + input.Reshape(-1, InFeatures).MatMul(DeltaWeight(name).T).Reshape(shape);
            if (DeltaBias(name) is { } db) result = result + db;
        }
        return result;
    }

    /// <inheritdoc/>
    public override bool IsMergeable(string name) => true;

    /// <inheritdoc/>
    protected override (Tensor Weight, Tensor? Bias) MergeWeights(string name, Tensor weight, Tensor? bias)
    {
        _snapshot.BeforeMerge(MergedAdapters.Count == 0, weight, bias);
        return (weight + DeltaWeight(name).Detach(), DeltaBias(name) is { } db ? bias! + db.Detach() : bias);
    }

    /// <inheritdoc/>
    protected override (Tensor Weight, Tensor? Bias) UnmergeWeights(string name, Tensor weight, Tensor? bias) =>
        _snapshot.Unmerge(MergedAdapters.Count == 1, () => (weight - DeltaWeight(name).Detach(), DeltaBias(name) is { } db ? bias! - db.Detach() : bias));
}
