namespace Engine.Peft.LowRank;

/// <summary>
/// A <see cref="Linear"/> with AdaLoRA adapters (Zhang et al. 2023, equation 3): y = x W0^T + b0 +
/// (dropout(x) (Q * lambda)^T) P^T * c / (ranknum + 1e-5), with Q = <c>lora_A</c> [r, in], lambda = <c>lora_E</c>
/// [r, 1], P = <c>lora_B</c> [out, r] (parameters without <c>.weight</c>, as PEFT's ParameterDicts), ranknum = init_r
/// and c = lora_alpha, or the layer's rank when alpha &lt;= 0 (after a rank pattern, the kept rank: PEFT's
/// <c>resize_modules_by_rank_pattern</c> keeps ranknum and recomputes the scale). Pruned triplets have lambda_i = 0.
/// </summary>
public sealed class AdaLoraLayer : AdditiveAdapterLayer
{
    /// <summary>Wraps <paramref name="baseLayer"/>.</summary>
    public AdaLoraLayer(Linear baseLayer) : base(baseLayer) { }

    /// <summary>Q [r, in].</summary>
    public Tensor LoraA(string name) => Parameter("lora_A", name);

    /// <summary>lambda [r, 1].</summary>
    public Tensor LoraE(string name) => Parameter("lora_E", name);

    /// <summary>P [out, r].</summary>
    public Tensor LoraB(string name) => Parameter("lora_B", name);

    /// <summary>c / (ranknum + 1e-5), PEFT's factor.</summary>
    public double Scale(string name) => State<AdaLoraScale>(name).Value;

    /// <inheritdoc/>
    public override IEnumerable<PlannedTensor> PlanAdapter(AdapterContext context)
    {
        int r = Rank(context.ConfigAs<AdaLoraConfig>(), context.Path);
        return [Planned("lora_A", null, r, InFeatures), Planned("lora_E", null, r, 1), Planned("lora_B", null, OutFeatures, r)];
    }

    // A fixed rank pattern (a loaded adapter) builds only the kept triplets; ranknum stays init_r.
    static int Rank(AdaLoraConfig c, ModulePath path) => c.MaskFor(path) is { } mask ? mask.Count(k => k) : c.InitR;

    /// <inheritdoc/>
    protected override void CreateAdapter(AdapterContext context)
    {
        var c = context.ConfigAs<AdaLoraConfig>();
        var name = context.Name;
        int r = Rank(c, context.Path);
        var dtype = BaseLayer.Weight.DType;
        var g = context.Generator;
        AddDropout("lora_dropout", name, c.LoraDropout, g);
        // Section 3.1 of the paper: lambda = 0, P and Q random (PEFT: N(0, 0.02)), so the layer starts at W0.
        AddParameter("lora_A", name, Tensor.Randn([r, InFeatures], 0, 0.02, dtype, g));
        AddParameter("lora_E", name, Tensor.Zeros([r, 1], dtype));
        AddParameter("lora_B", name, Tensor.Randn([OutFeatures, r], 0, 0.02, dtype, g));
        SetState(name, new AdaLoraScale((c.LoraAlpha > 0 ? c.LoraAlpha : r) / (c.InitR + 1e-5)));
    }

    /// <summary>P (Q * lambda) c / (ranknum + 1e-5) [out, in].</summary>
    public override Tensor DeltaWeight(string name) => LoraB(name) % (LoraA(name) * LoraE(name)) * Scale(name);

    /// <inheritdoc/>
    protected override Tensor Contribution(string name, Tensor x) => LinearMap(LinearMap(x, LoraA(name) * LoraE(name)), LoraB(name)) * Scale(name);

    /// <summary>Zeroes lambda_i where <paramref name="keep"/> is false (pruned triplets).</summary>
    public void Mask(string name, bool[] keep)
    {
        var e = LoraE(name);
        if (keep.Length != e.Size(0)) throw new ArgumentException($"AdaLoraLayer.Mask: {keep.Length} flags for rank {e.Size(0)}");
        var m = Tensor.FromArray(keep.Select(k => k ? 1.0 : 0.0).ToArray(), [keep.Length, 1]).To(e.DType);
        using (Autograd.Autograd.NoGrad()) e.CopyFrom(e.Detach() * m);
    }

    sealed record AdaLoraScale(double Value);
}
