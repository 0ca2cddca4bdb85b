namespace Engine.Peft.Lycoris;

/// <summary>
/// The fields PEFT's LyCORIS methods (LoHa, LoKr) share (<c>LycorisConfig</c> and the per-method fields both have), with
/// PEFT's names and defaults: r 8, alpha 8 (scale alpha / r), rank_dropout and module_dropout 0, per-module
/// rank_pattern / alpha_pattern.
/// </summary>
public abstract record LycorisConfig : PeftConfig
{
    /// <summary>Rank r of each low-rank factor.</summary>
    public int R { get; init; } = 8;

    /// <summary>alpha: the update is scaled by alpha / r.</summary>
    public double Alpha { get; init; } = 8;

    /// <summary>In training, each output row of ΔW is dropped with this probability (a fresh mask every call).</summary>
    public double RankDropout { get; init; }

    /// <summary>In training, the whole adapter is skipped for a forward call with this probability.</summary>
    public double ModuleDropout { get; init; }

    /// <summary>PEFT's CP (Tucker) form for convolutions with a kernel; the engine adapts Linear layers, so only false.</summary>
    public bool UseEffectiveConv2d { get; init; }

    /// <summary>Per-module ranks: regular expressions matched against the end of the module path.</summary>
    public IReadOnlyDictionary<string, int> RankPattern { get; init; } = new Dictionary<string, int>();

    /// <summary>Per-module alphas: regular expressions matched against the end of the module path.</summary>
    public IReadOnlyDictionary<string, double> AlphaPattern { get; init; } = new Dictionary<string, double>();

    /// <summary>The rank of the module at <paramref name="path"/> (<see cref="RankPattern"/> first, then <see cref="R"/>).</summary>
    public int RankFor(ModulePath path) => TargetMatcher.FindPattern(RankPattern, path) ?? R;

    /// <summary>The alpha of the module at <paramref name="path"/> (<see cref="AlphaPattern"/> first, then <see cref="Alpha"/>).</summary>
    public double AlphaFor(ModulePath path) => TargetMatcher.FindPattern(AlphaPattern, path) ?? Alpha;

    /// <inheritdoc/>
    public override void Validate()
    {
        var me = GetType().Name;
        if (R < 1) throw new ArgumentException($"{me}: r must be positive, got {R}");
        RequireFiniteInFloat32("alpha", Alpha);
        if (!(RankDropout >= 0 && RankDropout < 1)) throw new ArgumentException($"{me}: rank_dropout must be in [0, 1), got {RankDropout}");
        if (!(ModuleDropout >= 0 && ModuleDropout < 1)) throw new ArgumentException($"{me}: module_dropout must be in [0, 1), got {ModuleDropout}");
        if (UseEffectiveConv2d)
            throw new NotSupportedException($"{me}: use_effective_conv2d is for convolutions with a kernel; the engine adapts Linear layers, so it must be false");
        foreach (var (key, r) in RankPattern ?? new Dictionary<string, int>()) if (r < 1) throw new ArgumentException($"{me}: rank_pattern['{key}'] must be positive, got {r}");
        foreach (var (key, a) in AlphaPattern ?? new Dictionary<string, double>()) RequireFiniteInFloat32($"alpha_pattern['{key}']", a);
    }

    /// <inheritdoc/>
    public override IEnumerable<(string Field, string Pattern)> Patterns() =>
        base.Patterns().Concat((RankPattern?.Keys ?? []).Select(k => ("rank_pattern", k))).Concat((AlphaPattern?.Keys ?? []).Select(k => ("alpha_pattern", k)));
}
