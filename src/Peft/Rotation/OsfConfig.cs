namespace Engine.Peft.Rotation;

/// <summary>
/// OSF (orthogonal subspace fine-tuning for continual learning, Nayak et al. 2025, arXiv 2504.07097; PEFT's
/// <c>OSFConfig</c>): each target weight is split by its SVD, W = U_h S_h V_h + U_l S_l V_l; the top effective_rank
/// triplets (the high part) stay frozen and the rest (<c>osf_svd_params.U_low</c>, <c>S_low</c>, <c>V_low</c>) train,
/// with the gradients of U_l and V_l projected off the high subspaces so that training does not disturb them. The
/// adapted layer uses W' = U_h S_h V_h + U_l S_l V_l in place of W. PEFT's field names and defaults. Spec section B.
/// <code>var peft = Peft.Apply(gpt, new OsfConfig { EffectiveRank = 56, TargetModules = ["qkv"] });</code>
/// </summary>
[PeftMethod("OSF", Layer = typeof(OsfLayer), Mergeable = true, StartsAtBase = true, ZooLearningRate = 1e-2)]
public sealed record OsfConfig : PeftConfig
{
    /// <summary>
    /// The number of top singular directions kept frozen, per target: null is ⌊min(out, in)/2⌋; a value in (0, 1) is that
    /// fraction of min(out, in) (rounded down); otherwise an integer rank (capped at min(out, in)). PEFT also reads the
    /// float 1.0 as "all of min(out, in)"; JSON numbers do not keep that distinction here, so 1 is the rank 1.
    /// </summary>
    public double? EffectiveRank { get; init; }

    /// <summary>Per-module effective ranks (same forms), the first key that matches anywhere in the module's path (<c>re.search</c>) winning.</summary>
    public IReadOnlyDictionary<string, double>? RankPattern { get; init; }

    /// <summary>PEFT accepts and ignores it ("forward compatibility"); kept so that files round-trip.</summary>
    public IReadOnlyDictionary<string, int>? TargetSvdConfig { get; init; }

    /// <summary>PEFT accepts and ignores it; OSF always starts from the exact SVD of the weight.</summary>
    public bool? InitWeights { get; init; }

    /// <summary>The frozen rank of a target of min(out, in) = <paramref name="minDim"/> at <paramref name="path"/> (PEFT's <c>_resolve_rank</c>).</summary>
    public int EffectiveRankFor(ModulePath path, int minDim)
    {
        double? value = EffectiveRank;
        if (RankPattern is { } patterns)
            foreach (var (pattern, rank) in patterns)
                if (path.Names.Any(n => PatternRegex.Search(pattern, n))) { value = rank; break; }
        if (value is not { } v) return minDim / 2;
        int r = v > 0 && v < 1 ? (int)(minDim * v) : (int)v;
        return Math.Clamp(r, 0, minDim);
    }

    /// <inheritdoc/>
    public override void Validate()
    {
        if (EffectiveRank is { } e && !(e > 0 && double.IsFinite(e))) throw new ArgumentException($"OsfConfig: effective_rank must be positive, got {e}");
        foreach (var (key, e2) in RankPattern ?? new Dictionary<string, double>())
            if (!(e2 > 0 && double.IsFinite(e2))) throw new ArgumentException($"OsfConfig: rank_pattern['{key}'] must be positive, got {e2}");
    }

    /// <inheritdoc/>
    public override IEnumerable<(string Field, string Pattern)> Patterns() =>
        base.Patterns().Concat((RankPattern?.Keys ?? []).Select(k => ("rank_pattern", k)));

    /// <summary>The zoo's OSF: PEFT's default split (half of each weight's spectrum frozen) on every block projection; the size is not used.</summary>
    public static OsfConfig Preset(AdapterPreset p) => new() { TargetModules = p.Linears, Seed = p.Seed };
}
