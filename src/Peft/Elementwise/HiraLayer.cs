namespace Engine.Peft.Elementwise;

/// <summary>
/// A <see cref="Linear"/> with HiRA adapters (PEFT's <c>hira.Linear</c>): y = x W0^T + b0 + dropout(x) (W0 ⊙ B A)^T,
/// with <c>hira_A</c> [r, in] and <c>hira_B</c> [out, r]. PEFT's init: A Kaiming-uniform (a = sqrt 5) or N(0, 1/r²),
/// B = 0. W0 is the weight before any merge (<see cref="PreMergeSnapshot"/>), so a merge adds W0 ⊙ B A and the last
/// unmerge restores W0 exactly.
/// </summary>
public sealed class HiraLayer : AdditiveAdapterLayer
{
    readonly PreMergeSnapshot _snapshot = new();

    /// <summary>Wraps <paramref name="baseLayer"/>.</summary>
    public HiraLayer(Linear baseLayer) : base(baseLayer) { }

    /// <summary>A [r, in].</summary>
    public Tensor A(string name) => Parameter("hira_A", name);

    /// <summary>B [out, r].</summary>
    public Tensor B(string name) => Parameter("hira_B", name);

    static int Rank(AdapterContext context)
    {
        int r = context.ConfigAs<HiraConfig>().RankFor(context.Path);
        if (r < 1) throw new ArgumentException($"HiraLayer: rank must be positive at '{context.Path.External}', got {r}");
        return r;
    }

    /// <inheritdoc/>
    public override IEnumerable<PlannedTensor> PlanAdapter(AdapterContext context)
    {
        int r = Rank(context);
        return [Planned("hira_A", null, r, InFeatures), Planned("hira_B", null, OutFeatures, r)];
    }

    /// <inheritdoc/>
    protected override void CreateAdapter(AdapterContext context)
    {
        var c = context.ConfigAs<HiraConfig>();
        int r = Rank(context);
        var dtype = BaseLayer.Weight.DType;
        var g = context.Generator;
        AddDropout("hira_dropout", context.Name, c.HiraDropout, g);
        var a = c.InitWeights switch
        {
            HiraInit.Default => Init.KaimingUniform(Tensor.Zeros([r, InFeatures], dtype), Math.Sqrt(5), generator: g),
            HiraInit.Gaussian => Tensor.Randn([r, InFeatures], 0, 1.0 / r, dtype, g),
            _ => Tensor.Randn([r, InFeatures], 0, 1, dtype, g),
        };
        AddParameter("hira_A", context.Name, a);
        AddParameter("hira_B", context.Name, c.InitWeights == HiraInit.Random ? Tensor.Randn([OutFeatures, r], 0, 1, dtype, g) : Tensor.Zeros([OutFeatures, r], dtype));
    }

    /// <summary>W0 ⊙ (B A) [out, in], W0 the weight before any merge.</summary>
    public override Tensor DeltaWeight(string name) => _snapshot.Weight(BaseLayer.Weight) * (B(name) % A(name));

    /// <inheritdoc/>
    protected override (Tensor Weight, Tensor? Bias) MergeWeights(string name, Tensor weight, Tensor? bias)
    {
        _snapshot.BeforeMerge(MergedAdapters.Count == 0, weight, bias);
        return base.MergeWeights(name, weight, bias);
    }

    /// <inheritdoc/>
    protected override (Tensor Weight, Tensor? Bias) UnmergeWeights(string name, Tensor weight, Tensor? bias) =>
        _snapshot.Unmerge(MergedAdapters.Count == 1, () => base.UnmergeWeights(name, weight, bias));
}
