using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace Engine.Peft.LowRank;

/// <summary>
/// LoRA (Hu et al. 2021) and its variants: rsLoRA scaling (Kalajdzievski 2023), DoRA (Liu et al. 2024), PiSSA, OLoRA,
/// orthogonal and MiCA initialisations, the data-driven CorDA and LoRA-GA initialisations (<see cref="Corda"/>,
/// <see cref="LoraGa"/>), KaSA and BD-LoRA, with Hugging Face PEFT's field names and defaults (r 8, lora_alpha 8,
/// dropout 0). PEFT's aLoRA, VeLoRA, QALoRA, MonteCLoRA, Arrow, EVA and LoftQ are read from files only to be refused
/// by name (<see cref="Validate"/>).
/// <code>var peft = Peft.Apply(gpt, new LoraConfig { R = 4, LoraAlpha = 8, TargetModules = ["c_attn"] });</code>
/// </summary>
[PeftMethod("LORA", Layer = typeof(LoraLayer), ModelPart = typeof(LoraModelPart), Mergeable = true, StartsAtBase = true,
    Variants = ["dora: use_dora=true", "rslora: use_rslora=true", "pissa: init_lora_weights=\"pissa\"", "olora: init_lora_weights=\"olora\"",
        "kasa: kasa_config={}", "mica: init_lora_weights=\"mica\"", "orthogonal: init_lora_weights=\"orthogonal\"",
        "corda: init_lora_weights=\"corda\"", "loraga: init_lora_weights=\"lora_ga\", lora_ga_config={}"],
    ZooLearningRate = 1e-2)]
public sealed record LoraConfig : PeftConfig, ICalibratedConfig
{
    /// <summary>Rank r of the update B A.</summary>
    public int R { get; init; } = 8;

    /// <summary>alpha: the update is scaled by alpha / r (or alpha / sqrt r with <see cref="UseRsLora"/>).</summary>
    public double LoraAlpha { get; init; } = 8;

    /// <summary>Dropout probability on the adapter's input.</summary>
    public double LoraDropout { get; init; }

    /// <summary>True when the Hugging Face layer stores its weight [in, out] (GPT-2's Conv1D); A and B keep their shapes.</summary>
    public bool FanInFanOut { get; init; }

    /// <summary>Rank-stabilised scaling alpha / sqrt(r) (Kalajdzievski 2023, theorem 3.2).</summary>
    [JsonPropertyName("use_rslora")]
    public bool UseRsLora { get; init; }

    /// <summary>Weight-decomposed LoRA: a trained magnitude times the normalised direction (Liu et al. 2024).</summary>
    public bool UseDora { get; init; }

    /// <summary>
    /// DoRA treats the row norm as a constant in the backward pass (Liu et al. 2024, section 4.3), as PEFT does.
    /// False differentiates through it (exact gradient, more memory). The engine's field: not written to files.
    /// </summary>
    [JsonIgnore]
    public bool DoraDetachNorm { get; init; } = true;

    /// <summary>The initialisation of A and B.</summary>
    public LoraInit InitLoraWeights { get; init; } = LoraInit.Default;

    /// <summary>KaSA (Wang et al. 2024): truncate the base's r smallest singular components, ΔW = s B diag(d) A (<see cref="KasaVariant"/>); null for none.</summary>
    public KasaConfig? KasaConfig { get; init; }

    /// <summary>CorDA's options (<see cref="Corda"/>), read with init_lora_weights "corda"; null there means the defaults (as PEFT).</summary>
    public CordaConfig? CordaConfig { get; init; }

    /// <summary>LoRA-GA's options (<see cref="LoraGa"/>), required with init_lora_weights "lora_ga" (as PEFT's preprocess_loraga).</summary>
    [JsonPropertyName("lora_ga_config")]
    public LoraGaConfig? LoraGaConfig { get; init; }

    /// <summary>BD-LoRA: a block-diagonal A or B per target (<see cref="BdLoraVariant"/>); null for none.</summary>
    [JsonPropertyName("use_bdlora")]
    public BdLoraConfig? UseBdlora { get; init; }

    /// <summary>PEFT's aLoRA (activated LoRA, needs the invocation offsets of each sequence): not implemented, refused when set.</summary>
    public JsonNode? AloraInvocationTokens { get; init; }

    /// <summary>PEFT's VeLoRA (compressed activations in the backward pass): not implemented, refused when set.</summary>
    public JsonNode? VeloraConfig { get; init; }

    /// <summary>PEFT's MonteCLoRA (Monte Carlo sampled adapters): not implemented, refused when set.</summary>
    public JsonNode? MontecloraConfig { get; init; }

    /// <summary>PEFT's Arrow routing over several LoRA experts: not implemented, refused when set.</summary>
    public JsonNode? ArrowConfig { get; init; }

    /// <summary>PEFT's QALoRA (group-pooled input for quantised bases): not implemented, refused when true.</summary>
    [JsonPropertyName("use_qalora")]
    public bool UseQalora { get; init; }

    /// <summary>Which biases train: only "none" is implemented.</summary>
    public string Bias { get; init; } = "none";

    /// <summary>Per-module ranks: regular expressions matched against the end of the module path.</summary>
    public IReadOnlyDictionary<string, int> RankPattern { get; init; } = new Dictionary<string, int>();

    /// <summary>Per-module alphas: regular expressions matched against the end of the module path.</summary>
    public IReadOnlyDictionary<string, double> AlphaPattern { get; init; } = new Dictionary<string, double>();

    /// <summary>The rank of the module at <paramref name="path"/> (<see cref="RankPattern"/> first, then <see cref="R"/>).</summary>
    public int RankFor(ModulePath path) => TargetMatcher.FindPattern(RankPattern, path) ?? R;

    /// <summary>The alpha of the module at <paramref name="path"/> (<see cref="AlphaPattern"/> first, then <see cref="LoraAlpha"/>).</summary>
    public double AlphaFor(ModulePath path) => TargetMatcher.FindPattern(AlphaPattern, path) ?? LoraAlpha;

    /// <summary>The scale s of an update of rank <paramref name="r"/> with <paramref name="alpha"/>: alpha / r, or alpha / sqrt r for rsLoRA.</summary>
    public double Scaling(int r, double alpha) => UseRsLora ? alpha / Math.Sqrt(r) : alpha / r;

    /// <inheritdoc/>
    public override void Validate()
    {
        if (R < 1) throw new ArgumentException($"LoraConfig: r must be positive, got {R}");
        RequireFiniteInFloat32("lora_alpha", LoraAlpha);
        if (!(LoraDropout >= 0 && LoraDropout < 1)) throw new ArgumentException($"LoraConfig: lora_dropout must be in [0, 1), got {LoraDropout}");
        if (Bias != "none") throw new NotSupportedException($"LoraConfig: bias '{Bias}' is not implemented; only 'none' (base biases stay frozen)");
        foreach (var (key, r) in RankPattern ?? new Dictionary<string, int>()) if (r < 1) throw new ArgumentException($"LoraConfig: rank_pattern['{key}'] must be positive, got {r}");
        foreach (var (key, a) in AlphaPattern ?? new Dictionary<string, double>()) RequireFiniteInFloat32($"alpha_pattern['{key}']", a);
        foreach (var (field, set) in new[] { ("alora_invocation_tokens", IsSet(AloraInvocationTokens)), ("velora_config", IsSet(VeloraConfig)),
            ("monteclora_config", IsSet(MontecloraConfig)), ("arrow_config", IsSet(ArrowConfig)), ("use_qalora", UseQalora) })
            if (set) throw new NotSupportedException($"LoraConfig: {field} is set, but that LoRA variant is not implemented");
        if (InitLoraWeights is LoraInit.Eva or LoraInit.Loftq)
            throw new NotSupportedException($"LoraConfig: init_lora_weights '{InitLoraWeights.ToString().ToLowerInvariant()}' is not implemented (it needs data or a quantised base)");
        var variants = LoraVariants.Requested(this);
        // PEFT's resolve_lora_variant knows each variant alone, not combinations.
        if (variants.Count > 1) throw new NotSupportedException($"LoraConfig: the LoRA variants [{string.Join(", ", variants)}] cannot be combined");
        CordaConfig?.Validate();
        LoraGaConfig?.Validate();
        if (InitLoraWeights == LoraInit.LoraGa && LoraGaConfig is null)
            throw new ArgumentException("LoraConfig: init_lora_weights 'lora_ga' needs lora_ga_config (PEFT's LoraGAConfig; {} for its defaults)");
        UseBdlora?.Validate();
        if (KasaConfig is { } k)
        {
            RequireFiniteInFloat32("kasa_config.beta", k.Beta);
            RequireFiniteInFloat32("kasa_config.gamma", k.Gamma);
        }
    }

    // PEFT tests these fields for truth: null and an empty list ask for nothing.
    static bool IsSet(JsonNode? node) => node is not null and not JsonArray { Count: 0 } && !(node is JsonValue v && v.GetValueKind() == System.Text.Json.JsonValueKind.Null);

    /// <inheritdoc/>
    public override IEnumerable<(string Field, string Pattern)> Patterns() =>
        base.Patterns().Concat((RankPattern?.Keys ?? []).Select(k => ("rank_pattern", k))).Concat((AlphaPattern?.Keys ?? []).Select(k => ("alpha_pattern", k)));

    /// <inheritdoc/>
    string? ICalibratedConfig.CalibrationNeed => InitLoraWeights switch
    {
        LoraInit.Eva => "init_lora_weights=\"eva\"",
        LoraInit.Corda => "init_lora_weights=\"corda\"",
        LoraInit.LoraGa => "init_lora_weights=\"lora_ga\"",
        _ => null,
    };

    /// <inheritdoc/>
    CalibrationResult ICalibratedConfig.Calibrate(CalibrationContext context) => InitLoraWeights switch
    {
        LoraInit.Eva => throw new NotSupportedException("LoraConfig: EVA is not implemented"),
        LoraInit.Corda => Corda.Calibrate(this, context),
        LoraInit.LoraGa => LoraGa.Calibrate(this, context),
        _ => new CalibrationResult(this, new Dictionary<string, object>()),
    };

    /// <inheritdoc/>
    string? ICalibratedConfig.LoadNeed => InitLoraWeights switch
    {
        LoraInit.Corda => "init_lora_weights=\"corda\"",
        LoraInit.LoraGa => "init_lora_weights=\"lora_ga\"",
        _ => null,
    };

    /// <summary>The zoo's and the CLI's LoRA: rank = size, alpha = 2 rank, every block projection.</summary>
    public static LoraConfig Preset(AdapterPreset p) => new() { R = p.Size, LoraAlpha = 2 * p.Size, TargetModules = p.Linears, Seed = p.Seed };
}
