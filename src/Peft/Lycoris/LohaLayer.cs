namespace Engine.Peft.Lycoris;

/// <summary>
/// A <see cref="Linear"/> with LoHa adapters (PEFT's <c>loha.Linear</c>): ΔW = s (W1a W1b) ⊙ (W2a W2b), s = alpha / r,
/// with <c>hada_w1_a</c>, <c>hada_w2_a</c> [out, r] and <c>hada_w1_b</c>, <c>hada_w2_b</c> [r, in]. PEFT's init: W1a,
/// W1b, W2a Kaiming-uniform (a = sqrt 5), W2b = 0.
/// </summary>
public sealed class LohaLayer : LycorisLayer
{
    static readonly string[] Factors = ["hada_w1_a", "hada_w1_b", "hada_w2_a", "hada_w2_b"];

    /// <summary>Wraps <paramref name="baseLayer"/>.</summary>
    public LohaLayer(Linear baseLayer) : base(baseLayer) { }

    /// <summary>One of the four factors by PEFT's name (<c>hada_w1_a</c>...).</summary>
    public Tensor Factor(string factor, string name) => Parameter(factor, name);

    /// <inheritdoc/>
    public override IEnumerable<PlannedTensor> PlanAdapter(AdapterContext context)
    {
        int r = context.ConfigAs<LohaConfig>().RankFor(context.Path);
        if (r < 1) throw new ArgumentException($"LohaLayer: rank must be positive at '{context.Path.External}', got {r}");
        return Factors.Select(f => Planned(f, null, f.EndsWith("_a") ? [OutFeatures, r] : [r, InFeatures]));
    }

    /// <inheritdoc/>
    protected override void CreateAdapter(AdapterContext context)
    {
        var c = context.ConfigAs<LohaConfig>();
        var s = Configure(context, rescaleRankDropout: true);
        var dtype = BaseLayer.Weight.DType;
        var g = context.Generator;
        AddParameter("hada_w1_a", context.Name, Kaiming(OutFeatures, s.R, dtype, g));
        AddParameter("hada_w1_b", context.Name, Kaiming(s.R, InFeatures, dtype, g));
        AddParameter("hada_w2_a", context.Name, Kaiming(OutFeatures, s.R, dtype, g));
        // One zero factor makes ΔW = 0 (FedPara's He init otherwise).
        AddParameter("hada_w2_b", context.Name, c.InitWeights ? Tensor.Zeros([s.R, InFeatures], dtype) : Kaiming(s.R, InFeatures, dtype, g));
    }

    /// <summary>s (W1a W1b) ⊙ (W2a W2b) [out, in].</summary>
    public override Tensor DeltaWeight(string name) =>
        (Factor("hada_w1_a", name) % Factor("hada_w1_b", name)) * (Factor("hada_w2_a", name) % Factor("hada_w2_b", name)) * Settings(name).Scaling;
}
