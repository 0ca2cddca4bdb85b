namespace Engine.Peft.Scaling;

/// <summary>
/// IA3 (Liu et al. 2022, section 3.3): learned vectors that rescale activations, initialised to 1. Targets in
/// <see cref="FeedforwardModules"/> scale their input (the feed-forward hidden activation, l_ff); the others scale
/// their output (keys and values, l_k and l_v; for GPT-2's fused c_attn the whole projection). PEFT's field names and
/// matching: feed-forward names match any path that ends with them (plain <c>endswith</c>), a string is a regular
/// expression over the whole path, and the feed-forward modules must be among the targets.
/// <code>var peft = Peft.Apply(gpt, new Ia3Config { TargetModules = ["c_attn", "mlp.c_proj"], FeedforwardModules = ["mlp.c_proj"] });</code>
/// </summary>
[PeftMethod("IA3", Layer = typeof(Ia3Layer), Mergeable = true, StartsAtBase = true, ZooLearningRate = 1e-1)]
public sealed record Ia3Config : PeftConfig
{
    /// <summary>Targets whose input is scaled: names (paths ending in them) or a regular expression.</summary>
    public ModuleSelector? FeedforwardModules { get; init; }

    /// <summary>True when the Hugging Face layer stores its weight [in, out] (GPT-2's Conv1D).</summary>
    public bool FanInFanOut { get; init; }

    /// <summary>Start every vector at 1 (false: random, for tests; PEFT's <c>init_ia3_weights</c>).</summary>
    [System.Text.Json.Serialization.JsonPropertyName("init_ia3_weights")]
    public bool InitIa3Weights { get; init; } = true;

    /// <summary>True when the module at <paramref name="path"/> is a feed-forward target.</summary>
    public bool IsFeedforward(ModulePath path) => FeedforwardModules is { } ff && path.Names.Any(ff.MatchesSuffix);

    /// <summary>PEFT's check: listed feed-forward modules must be listed targets too.</summary>
    public override void Validate()
    {
        if (FeedforwardModules is { Pattern: null } ff && TargetModules is { Pattern: null } targets)
        {
            var outside = ff.Names.Where(n => !targets.Names.Contains(n)).ToList();
            if (outside.Count > 0)
                throw new ArgumentException($"Ia3Config: feedforward_modules [{string.Join(", ", outside)}] are not among target_modules {targets}; they must be a subset");
        }
    }

    /// <summary>The zoo's IA3: keys and values (the fused qkv) scaled at the output, the feed-forward activation at the input.</summary>
    public static Ia3Config Preset(AdapterPreset p) => new()
    {
        TargetModules = ModuleSelector.Create([.. p.AttentionInputs, .. p.FeedForwardOutputs]),
        FeedforwardModules = p.FeedForwardOutputs,
    };
}
