namespace Engine.Peft.Lycoris;

/// <summary>The per-adapter settings of a LyCORIS layer.</summary>
/// <param name="R">The module's rank (rank_pattern applied).</param>
/// <param name="Scaling">alpha / r.</param>
/// <param name="RankDropout">Probability of dropping a row of ΔW in training.</param>
/// <param name="ModuleDropout">Probability of skipping the adapter for a call in training.</param>
/// <param name="RescaleRankDropout">Divide the rank-dropout mask by its mean (LoHa always; LoKr with rank_dropout_scale).</param>
/// <param name="Generator">The adapter's generator, which the dropouts draw from after the initialisation.</param>
public sealed record LycorisSettings(int R, double Scaling, double RankDropout, double ModuleDropout, bool RescaleRankDropout, Generator Generator);

/// <summary>
/// Family base of PEFT's LyCORIS layers (LoHa, LoKr; PEFT's <c>LycorisLayer</c>): the full ΔW is formed each call and
/// added as x ΔWᵀ, with no input dropout. In training, module_dropout skips the whole adapter for a call (PEFT keeps it
/// when rand &gt; p) and rank_dropout multiplies the rows of ΔW by a Bernoulli(1 − p) mask, optionally divided by its mean.
/// <see cref="AdditiveAdapterLayer.DeltaWeight"/> stays the deterministic update, so a merge never takes a dropout mask
/// (PEFT applies the mask in get_delta_weight, so a merge in training mode would take one).
/// </summary>
public abstract class LycorisLayer : AdditiveAdapterLayer
{
    /// <summary>Wraps <paramref name="baseLayer"/>.</summary>
    protected LycorisLayer(Linear baseLayer) : base(baseLayer) { }

    /// <summary>The settings of adapter <paramref name="name"/>.</summary>
    public LycorisSettings Settings(string name) => State<LycorisSettings>(name);

    /// <summary>Stores the settings of a new adapter from its configuration and path.</summary>
    protected LycorisSettings Configure(AdapterContext context, bool rescaleRankDropout)
    {
        var c = context.ConfigAs<LycorisConfig>();
        int r = c.RankFor(context.Path);
        if (r < 1) throw new ArgumentException($"{GetType().Name}: rank must be positive at '{context.Path.External}', got {r}");
        var settings = new LycorisSettings(r, c.AlphaFor(context.Path) / r, c.RankDropout, c.ModuleDropout, rescaleRankDropout, context.Generator);
        SetState(context.Name, settings);
        return settings;
    }

    /// <summary>PEFT's reset: Kaiming-uniform with a = sqrt 5 (U(±1/sqrt(columns))), as nn.Linear.</summary>
    protected static Tensor Kaiming(int rows, int cols, DType dtype, Generator generator) => KaimingInit.Uniform(rows, cols, dtype, generator);

    /// <inheritdoc/>
    protected override bool SkipsThisCall(string name)
    {
        var s = Settings(name);
        return Training && s.ModuleDropout > 0 && !(Tensor.Rand([1], generator: s.Generator).Item() > s.ModuleDropout);
    }

    /// <inheritdoc/>
    protected override Tensor Contribution(string name, Tensor x)
    {
        var delta = DeltaWeight(name);
        var s = Settings(name);
        if (Training && s.RankDropout > 0)
        {
            var keep = Tensor.Rand([delta.Size(0)], generator: s.Generator).Gt(s.RankDropout).To(delta.DType);
            if (s.RescaleRankDropout) keep = keep / keep.Mean();
            delta = delta * keep.To(delta.Device).Unsqueeze(1);
        }
        return LinearMap(x, delta);
    }
}
