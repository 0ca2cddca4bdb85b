namespace Engine.Peft.Rotation;

/// <summary>
/// A <see cref="Linear"/> with RoAd adapters (PEFT's <c>road.Linear</c>, road/layer.py): the output h = x Wᵀ + b becomes
/// y = c ⊙ h + d ⊙ rot(h), rot pairing element i of each group's first half with i + g/2 (rot(h1, h2) = (−h2, h1)), so
/// each pair is multiplied by [[c1, −d1], [d2, c2]]. Keys <c>road_theta</c> and <c>road_alpha</c>. A weight transform
/// (W ← R W, b ← R b); the forward acts on the output, which is cheaper. The inverse solves each 2 × 2 block exactly
/// (PEFT inverts the whole out × out R in float32).
/// </summary>
public sealed class RoadLayer : WeightTransformAdapterLayer
{
    sealed record Settings(string Variant, int GroupSize);

    /// <summary>Wraps <paramref name="baseLayer"/>.</summary>
    public RoadLayer(Linear baseLayer) : base(baseLayer) { }

    /// <summary>The angles θ of adapter <paramref name="name"/>.</summary>
    public Tensor Theta(string name) => Parameter("road_theta", name);

    /// <summary>The scales α of adapter <paramref name="name"/>.</summary>
    public Tensor Alpha(string name) => Parameter("road_alpha", name);

    /// <inheritdoc/>
    public override IEnumerable<PlannedTensor> PlanAdapter(AdapterContext context)
    {
        int size = Size(context);
        return [Planned("road_theta", null, size), Planned("road_alpha", null, size)];
    }

    int Size(AdapterContext context)
    {
        var c = context.ConfigAs<RoadConfig>();
        if (c.GroupSize < 2 || c.GroupSize % 2 != 0 || OutFeatures % c.GroupSize != 0)
            throw new ArgumentException($"RoadLayer: group_size ({c.GroupSize}) must be even and divide the output width of '{context.Path.External}' ({OutFeatures})");
        return c.Variant switch
        {
            "road_1" => OutFeatures / 2,
            "road_2" => OutFeatures,
            "road_4" => OutFeatures * 2,
            _ => throw new ArgumentException($"RoadLayer: variant must be 'road_1', 'road_2' or 'road_4', got '{c.Variant}'"),
        };
    }

    /// <inheritdoc/>
    protected override void CreateAdapter(AdapterContext context)
    {
        var c = context.ConfigAs<RoadConfig>();
        int size = Size(context);
        SetState(context.Name, new Settings(c.Variant, c.GroupSize));
        var dtype = BaseLayer.Weight.DType;
        AddParameter("road_theta", context.Name, c.InitWeights ? Tensor.Zeros([size], dtype) : Tensor.Randn([size], 0, 0.5, dtype, context.Generator));
        AddParameter("road_alpha", context.Name, c.InitWeights ? Tensor.Ones([size], dtype) : Tensor.Randn([size], 1, 0.5, dtype, context.Generator));
    }

    /// <summary>c and d [out] of adapter <paramref name="name"/> (PEFT's <c>_prepare_cols</c>).</summary>
    public (Tensor C, Tensor D) Coefficients(string name)
    {
        var s = State<Settings>(name);
        int g = s.GroupSize;
        var theta = Theta(name);
        var alpha = Alpha(name);
        switch (s.Variant)
        {
            case "road_1":
            {
                // One angle and scale per pair: each group's g/2 values serve both halves.
                Tensor Both(Tensor v) { var half = v.Reshape(-1, 1, g / 2); return Tensor.Concat([half, half], 1).Reshape(OutFeatures); }
                var (t, a) = (Both(theta), Both(alpha));
                return (a * t.Cos(), a * t.Sin());
            }
            case "road_2":
                return (alpha * theta.Cos(), alpha * theta.Sin());
            default:
            {
                // road_4: per group, entries [0, g) give c, entries [g, 2g) give d.
                var t = theta.Reshape(-1, 2, g);
                var a = alpha.Reshape(-1, 2, g);
                return ((a.Select(1, 0) * t.Select(1, 0).Cos()).Reshape(OutFeatures), (a.Select(1, 1) * t.Select(1, 1).Sin()).Reshape(OutFeatures));
            }
        }
    }

    // The partner of each element along the last dimension: the two halves of every group swapped.
    static Tensor Swap(Tensor h, int g)
    {
        var shape = h.Shape;
        return h.Reshape(-1, 2, g / 2).Flip(1).Reshape(shape);
    }

    // +1 on the first half of each group, −1 on the second: rot(h) = −sign ⊙ swap(h).
    Tensor Sign(int g, DType dtype, Device device)
    {
        var values = new double[OutFeatures];
        for (int i = 0; i < OutFeatures; i++) values[i] = i % g < g / 2 ? 1 : -1;
        return Tensor.FromArray(values).To(dtype).To(device);
    }

    /// <summary>R h along the last dimension of <paramref name="h"/> (PEFT's <c>_apply_road</c>).</summary>
    public Tensor Apply(string name, Tensor h)
    {
        int g = State<Settings>(name).GroupSize;
        var (c, d) = Coefficients(name);
        return h * c - Swap(h, g) * (d * Sign(g, d.DType, d.Device));
    }

    /// <summary>R⁻¹ y along the last dimension: each pair's 2 × 2 block [[c1, −d1], [d2, c2]] solved exactly.</summary>
    public Tensor ApplyInverse(string name, Tensor y)
    {
        int g = State<Settings>(name).GroupSize;
        var (c, d) = Coefficients(name);
        var det = c * Swap(c, g) + d * Swap(d, g);
        return (y * Swap(c, g) + Swap(y, g) * (d * Sign(g, d.DType, d.Device))) / det;
    }

    /// <inheritdoc/>
    public override (Tensor Weight, Tensor? Bias) Transform(string name, Tensor weight, Tensor? bias) =>
        (Apply(name, weight.T).T, bias is null ? null : Apply(name, bias));

    /// <inheritdoc/>
    public override (Tensor Weight, Tensor? Bias) InverseTransform(string name, Tensor weight, Tensor? bias) =>
        (ApplyInverse(name, weight.T).T, bias is null ? null : ApplyInverse(name, bias));

    /// <inheritdoc/>
    protected override Tensor ForwardAdapters(Tensor input, IReadOnlyList<string> adapters)
    {
        var y = BaseLayer.Forward(input);
        foreach (var name in adapters) y = Apply(name, y);
        return y;
    }
}
