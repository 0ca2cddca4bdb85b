using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace Engine.Peft.LowRank;

/// <summary>
/// LoRA (Hu et al. 2021) and its variants: rsLoRA scaling (Kalajdzievski 2023), DoRA (Liu et al. 2024), PiSSA, OLoRA,
/// orthogonal, MiCA and LoftQ initialisations, the data-driven EVA, CorDA and LoRA-GA initialisations
/// (<see cref="EvaInit"/>, <see cref="Corda"/>, <see cref="LoraGa"/>), KaSA, BD-LoRA, aLoRA, MonteCLoRA, VeLoRA, QALoRA
/// and Arrow, with Hugging Face PEFT's field names and defaults (r 8, lora_alpha 8, dropout 0). Fields the engine does
/// not implement are refused by name (<see cref="Validate"/>).
/// <code>var peft = Peft.Apply(gpt, new LoraConfig { R = 4, LoraAlpha = 8, TargetModules = ["c_attn"] });</code>
/// </summary>
[PeftMethod("LORA", Layer = typeof(LoraLayer), ModelPart = typeof(LoraModelPart), Mergeable = true, StartsAtBase = true,
    Variants = ["dora: use_dora=true", "rslora: use_rslora=true", "pissa: init_lora_weights=\"pissa\"", "olora: init_lora_weights=\"olora\"",
        "kasa: kasa_config={}", "mica: init_lora_weights=\"mica\"", "orthogonal: init_lora_weights=\"orthogonal\"",
        "monteclora: monteclora_config={}", "velora: velora_config={}", "qalora: use_qalora=true",
        "loftq: init_lora_weights=\"loftq\", loftq_config={\"loftq_bits\":4}", "eva: init_lora_weights=\"eva\"",
        "corda: init_lora_weights=\"corda\"", "loraga: init_lora_weights=\"lora_ga\", lora_ga_config={}"],
    ZooLearningRate = 1e-2, VariantLearningRates = ["corda: 1e-3"])]
public sealed record LoraConfig : PeftConfig, ICalibratedConfig, IBiasConfig
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

    /// <summary>
    /// aLoRA (Greenewald et al. 2025): the tokenized invocation string; the update applies from its last occurrence in
    /// each sequence on (<see cref="AloraVariant"/>, <see cref="AloraOffsets"/>). Null or empty for none (PEFT tests it for truth).
    /// </summary>
    public IReadOnlyList<int>? AloraInvocationTokens { get; init; }

    /// <summary>EVA's options (<see cref="LowRank.EvaConfig"/>) for <c>init_lora_weights="eva"</c>; null uses PEFT's defaults, and other initialisations ignore it (as PEFT).</summary>
    public EvaConfig? EvaConfig { get; init; }

    /// <summary>LoftQ's bits and iterations, needed with <c>init_lora_weights: "loftq"</c> (<see cref="LowRank.LoftqInit"/>); null (PEFT's <c>{}</c>) for none.</summary>
    public LoftqConfig? LoftqConfig { get; init; }

    /// <summary>VeLoRA: rank-1 sub-token compression of lora_A's input for the backward pass (<see cref="VeloraVariant"/>); null for none.</summary>
    public VeloraConfig? VeloraConfig { get; init; }

    /// <summary>MonteCLoRA: A mixed with Monte Carlo perturbations in training, plus a KL regulariser (<see cref="MontecloraVariant"/>); null for none.</summary>
    public MontecloraConfig? MontecloraConfig { get; init; }

    /// <summary>Arrow: this adapter routes each token among the other LoRA adapters of its layers (<see cref="ArrowVariant"/>; <see cref="Arrow.CreateModel{T}"/>); null for none.</summary>
    public ArrowConfig? ArrowConfig { get; init; }

    /// <summary>QA-LoRA: the adapter's input average-pooled in groups of <see cref="QaloraGroupSize"/> features (<see cref="QaLoraVariant"/>).</summary>
    [JsonPropertyName("use_qalora")]
    public bool UseQalora { get; init; }

    /// <summary>QA-LoRA's group size g (PEFT's default 16): A is [r, in / g]; used only with <see cref="UseQalora"/>.</summary>
    [JsonPropertyName("qalora_group_size")]
    public int QaloraGroupSize { get; init; } = 16;

    /// <summary>
    /// PEFT's <c>trainable_token_indices</c> (token ids, or embedding name → token ids): trainable tokens beside LoRA,
    /// saved as <c>&lt;emb&gt;.token_adapter.trainable_tokens_delta</c>. Read only to refuse it by name (<see cref="Validate"/>);
    /// a TRAINABLE_TOKENS adapter beside the LoRA adapter does the same in the engine.
    /// </summary>
    public JsonNode? TrainableTokenIndices { get; init; }

    /// <summary>Which biases of the base model train with the adapter: "none", "all" or "&lt;prefix&gt;_only" (<see cref="TrainedBiases"/>).</summary>
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
        if (TrainableTokenIndices is not null)
            throw new NotSupportedException("LoraConfig: trainable_token_indices (LoRA with trainable tokens, <emb>.token_adapter.trainable_tokens_delta) is not supported; add a TRAINABLE_TOKENS adapter (TrainableTokensConfig) beside the LoRA adapter instead");
        RequireFiniteInFloat32("lora_alpha", LoraAlpha);
        if (!(LoraDropout >= 0 && LoraDropout < 1)) throw new ArgumentException($"LoraConfig: lora_dropout must be in [0, 1), got {LoraDropout}");
        TrainedBiases.Validate("LoraConfig", Bias);
        foreach (var (key, r) in RankPattern ?? new Dictionary<string, int>()) if (r < 1) throw new ArgumentException($"LoraConfig: rank_pattern['{key}'] must be positive, got {r}");
        foreach (var (key, a) in AlphaPattern ?? new Dictionary<string, double>()) RequireFiniteInFloat32($"alpha_pattern['{key}']", a);
        if (InitLoraWeights == LoraInit.Eva) EvaConfig?.Validate();
        // PEFT's __post_init__: LoftQ needs its config; a loftq_config without LoftQ is ignored (PEFT warns and clears it).
        if (InitLoraWeights == LoraInit.Loftq)
            (LoftqConfig ?? throw new ArgumentException("LoraConfig: init_lora_weights 'loftq' needs loftq_config ({\"loftq_bits\": 4, \"loftq_iter\": 1}), as PEFT requires")).Validate();
        var variants = LoraVariants.Requested(this);
        // PEFT's resolve_lora_variant knows each variant alone, not combinations.
        if (variants.Count > 1) throw new NotSupportedException($"LoraConfig: the LoRA variants [{string.Join(", ", variants)}] cannot be combined");
        CordaConfig?.Validate();
        LoraGaConfig?.Validate();
        if (InitLoraWeights == LoraInit.LoraGa && LoraGaConfig is null)
            throw new ArgumentException("LoraConfig: init_lora_weights 'lora_ga' needs lora_ga_config (PEFT's LoraGAConfig; {} for its defaults)");
        UseBdlora?.Validate();
        MontecloraConfig?.Validate();
        if (AloraInvocationTokens is { Count: > 0 } invocation)
        {
            if (invocation.Any(t => t < 0)) throw new ArgumentException($"LoraConfig: alora_invocation_tokens are token ids and cannot be negative, got [{string.Join(", ", invocation)}]");
            // The engine's rule (PEFT allows it): positions before the invocation must see the base weights.
            if (InitLoraWeights is LoraInit.Pissa or LoraInit.Olora)
                throw new NotSupportedException($"LoraConfig: alora_invocation_tokens with init_lora_weights '{InitLoraWeights.ToString().ToLowerInvariant()}' is refused: that initialisation moves part of the base weight into the adapter, so the positions before the invocation would not get the base output");
        }
        VeloraConfig?.Validate();
        if (UseQalora && QaloraGroupSize < 1) throw new ArgumentException($"LoraConfig: qalora_group_size must be positive, got {QaloraGroupSize}");
        // A [r, in / g] has no room for an initialisation built from the base weight's [r, in] factors.
        if (UseQalora && InitLoraWeights is LoraInit.Pissa or LoraInit.Olora or LoraInit.Orthogonal)
            throw new NotSupportedException($"LoraConfig: use_qalora cannot be combined with init_lora_weights '{InitLoraWeights.ToString().ToLowerInvariant()}' (A is [r, in / qalora_group_size])");
        ArrowConfig?.Validate();
        if (KasaConfig is { } k)
        {
            RequireFiniteInFloat32("kasa_config.beta", k.Beta);
            RequireFiniteInFloat32("kasa_config.gamma", k.Gamma);
        }
    }

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
        LoraInit.Eva => EvaInit.Calibrate(this, context),
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
