namespace Engine.Peft.Structured;

/// <summary>
/// DeLoRA (Bini et al. 2025, "Decoupling Angles and Strength in Low-rank Adaptation"; PEFT's <c>DeloraConfig</c>):
/// ΔW = B diag(λ / (r ‖A_i‖ ‖B_:i‖)) A diag(‖W_:j‖), a LoRA whose r rank-one terms are normalised, so that the
/// strength λ (trainable) bounds ‖ΔW‖_F by λ max_j ‖W_:j‖ however A and B train. PEFT's field names and defaults
/// (r 8, delora_lambda 15; module_dropout is PEFT's input dropout).
/// <code>var peft = Peft.Apply(gpt, new DeloraConfig { R = 4, DeloraLambda = 15, TargetModules = ["qkv"] });</code>
/// </summary>
[PeftMethod("DELORA", Layer = typeof(DeloraLayer), Mergeable = true, StartsAtBase = true, ZooLearningRate = 1e-2)]
public sealed record DeloraConfig : PeftConfig, IBiasConfig
{
    /// <summary>Rank r: the number of normalised rank-one terms.</summary>
    public int R { get; init; } = 8;

    /// <summary>Initial value of the trainable strength λ (the bound on the update's norm, in units of the largest column norm of W).</summary>
    public double DeloraLambda { get; init; } = 15;

    /// <summary>Dropout probability on the adapter's input (PEFT's name; it is not LyCORIS's module dropout).</summary>
    public double ModuleDropout { get; init; }

    /// <summary>Which biases of the base model train with the adapter: "none", "all" or "&lt;prefix&gt;_only" (<see cref="TrainedBiases"/>).</summary>
    public string Bias { get; init; } = "none";

    /// <summary>True: B = 0, so the model starts at the base; false: A and B both random (tests).</summary>
    public bool InitWeights { get; init; } = true;

    /// <summary>Per-module ranks: regular expressions matched against the end of the module path.</summary>
    public IReadOnlyDictionary<string, int> RankPattern { get; init; } = new Dictionary<string, int>();

    /// <summary>Per-module initial λ: regular expressions matched against the end of the module path.</summary>
    public IReadOnlyDictionary<string, double> LambdaPattern { get; init; } = new Dictionary<string, double>();

    /// <summary>The rank of the module at <paramref name="path"/> (<see cref="RankPattern"/> first, then <see cref="R"/>).</summary>
    public int RankFor(ModulePath path) => TargetMatcher.FindPattern(RankPattern, path) ?? R;

    /// <summary>The initial λ of the module at <paramref name="path"/> (<see cref="LambdaPattern"/> first, then <see cref="DeloraLambda"/>).</summary>
    public double LambdaFor(ModulePath path) => TargetMatcher.FindPattern(LambdaPattern, path) ?? DeloraLambda;

    /// <inheritdoc/>
    public override void Validate()
    {
        if (R < 1) throw new ArgumentException($"DeloraConfig: r must be positive, got {R}");
        RequireFiniteInFloat32("delora_lambda", DeloraLambda);
        if (!(ModuleDropout >= 0 && ModuleDropout < 1)) throw new ArgumentException($"DeloraConfig: module_dropout must be in [0, 1), got {ModuleDropout}");
        TrainedBiases.Validate("DeloraConfig", Bias);
        foreach (var (key, r) in RankPattern ?? new Dictionary<string, int>()) if (r < 1) throw new ArgumentException($"DeloraConfig: rank_pattern['{key}'] must be positive, got {r}");
        foreach (var (key, l) in LambdaPattern ?? new Dictionary<string, double>()) RequireFiniteInFloat32($"lambda_pattern['{key}']", l);
    }

    /// <inheritdoc/>
    public override IEnumerable<(string Field, string Pattern)> Patterns() =>
        base.Patterns().Concat((RankPattern?.Keys ?? []).Select(k => ("rank_pattern", k))).Concat((LambdaPattern?.Keys ?? []).Select(k => ("lambda_pattern", k)));

    /// <summary>The zoo's DeLoRA: rank = size, PEFT's λ, every block projection.</summary>
    public static DeloraConfig Preset(AdapterPreset p) => new() { R = p.Size, TargetModules = p.Linears, Seed = p.Seed };
}
