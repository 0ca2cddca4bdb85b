namespace Engine.Peft.Elementwise;

/// <summary>
/// HiRA (Huang et al. 2025, "HiRA: Parameter-Efficient Hadamard High-Rank Adaptation"; PEFT's <c>HiraConfig</c>):
/// ΔW = W0 ⊙ (B A) with A [r, in], B [out, r], no scale; the Hadamard product with the frozen weight lifts the rank of
/// the update far above r. PEFT's field names and defaults (r 32).
/// <code>var peft = Peft.Apply(gpt, new HiraConfig { R = 8, TargetModules = ["c_attn"] });</code>
/// </summary>
[PeftMethod("HIRA", Layer = typeof(HiraLayer), Mergeable = true, StartsAtBase = true, ZooLearningRate = 3e-2)]
public sealed record HiraConfig : PeftConfig
{
    /// <summary>Rank r of B A.</summary>
    public int R { get; init; } = 32;

    /// <summary>Dropout probability on the adapter's input.</summary>
    public double HiraDropout { get; init; }

    /// <summary>True when the Hugging Face layer stores its weight [in, out] (GPT-2's Conv1D); the engine's Linear is always [out, in].</summary>
    public bool FanInFanOut { get; init; }

    /// <summary>How A and B start.</summary>
    public HiraInit InitWeights { get; init; } = HiraInit.Default;

    /// <summary>Per-module ranks: regular expressions matched against the end of the module path.</summary>
    public IReadOnlyDictionary<string, int> RankPattern { get; init; } = new Dictionary<string, int>();

    /// <summary>The rank of the module at <paramref name="path"/> (<see cref="RankPattern"/> first, then <see cref="R"/>).</summary>
    public int RankFor(ModulePath path) => TargetMatcher.FindPattern(RankPattern, path) ?? R;

    /// <inheritdoc/>
    public override void Validate()
    {
        if (R < 1) throw new ArgumentException($"HiraConfig: r must be positive, got {R}");
        if (!(HiraDropout >= 0 && HiraDropout < 1)) throw new ArgumentException($"HiraConfig: hira_dropout must be in [0, 1), got {HiraDropout}");
        foreach (var (key, r) in RankPattern ?? new Dictionary<string, int>()) if (r < 1) throw new ArgumentException($"HiraConfig: rank_pattern['{key}'] must be positive, got {r}");
    }

    /// <inheritdoc/>
    public override IEnumerable<(string Field, string Pattern)> Patterns() =>
        base.Patterns().Concat((RankPattern?.Keys ?? []).Select(k => ("rank_pattern", k)));

    /// <summary>The zoo's HiRA: rank = size, every block projection.</summary>
    public static HiraConfig Preset(AdapterPreset p) => new() { R = p.Size, TargetModules = p.Linears, Seed = p.Seed };
}
