using System.Text.Json.Nodes;

namespace Engine.Peft.LowRank;

/// <summary>
/// LoRA (Hu et al. 2021) and its variants: rsLoRA scaling (Kalajdzievski 2023), DoRA (Liu et al. 2024), PiSSA and
/// OLoRA initialisations, with Hugging Face PEFT's field names and defaults (r 8, lora_alpha 8, dropout 0).
/// <code>var peft = Peft.Apply(gpt, new LoraConfig { R = 4, LoraAlpha = 8, TargetModules = ["c_attn"] });</code>
/// </summary>
public sealed record LoraConfig : PeftConfig
{
    /// <inheritdoc/>
    public override string PeftType => "LORA";

    /// <summary>Rank r of the update B A.</summary>
    public int R { get; init; } = 8;

    /// <summary>alpha: the update is scaled by alpha / r (or alpha / sqrt r with <see cref="UseRsLora"/>).</summary>
    public double LoraAlpha { get; init; } = 8;

    /// <summary>Dropout probability on the adapter's input.</summary>
    public double LoraDropout { get; init; }

    /// <summary>True when the Hugging Face layer stores its weight [in, out] (GPT-2's Conv1D); A and B keep their shapes.</summary>
    public bool FanInFanOut { get; init; }

    /// <summary>Rank-stabilised scaling alpha / sqrt(r) (Kalajdzievski 2023, theorem 3.2).</summary>
    public bool UseRsLora { get; init; }

    /// <summary>Weight-decomposed LoRA: a trained magnitude times the normalised direction (Liu et al. 2024).</summary>
    public bool UseDora { get; init; }

    /// <summary>
    /// DoRA treats the column norm as a constant in the backward pass (Liu et al. 2024, section 4.3), as PEFT does.
    /// False differentiates through it (exact gradient, more memory). Not written to files.
    /// </summary>
    public bool DoraDetachNorm { get; init; } = true;

    /// <summary>The initialisation of A and B.</summary>
    public LoraInit InitLoraWeights { get; init; } = LoraInit.Default;

    /// <summary>Which biases train: only "none" is implemented.</summary>
    public string Bias { get; init; } = "none";

    /// <summary>Per-module ranks: regular expressions matched against the end of the module path.</summary>
    public IReadOnlyDictionary<string, int> RankPattern { get; init; } = new Dictionary<string, int>();

    /// <summary>Per-module alphas: regular expressions matched against the end of the module path.</summary>
    public IReadOnlyDictionary<string, double> AlphaPattern { get; init; } = new Dictionary<string, double>();

    /// <summary>Seed of the random initialisation of A (and of B for <see cref="LoraInit.Random"/>); null uses the global generator.</summary>
    public ulong? Seed { get; init; }

    /// <summary>The rank of the module at <paramref name="path"/> (<see cref="RankPattern"/> first, then <see cref="R"/>).</summary>
    public int RankFor(ModulePath path) => TargetMatcher.FindPattern(RankPattern, path) ?? R;

    /// <summary>The alpha of the module at <paramref name="path"/> (<see cref="AlphaPattern"/> first, then <see cref="LoraAlpha"/>).</summary>
    public double AlphaFor(ModulePath path) => TargetMatcher.FindPattern(AlphaPattern, path) ?? LoraAlpha;

    /// <summary>The scale s of an update of rank <paramref name="r"/> with <paramref name="alpha"/>: alpha / r, or alpha / sqrt r for rsLoRA.</summary>
    public double Scaling(int r, double alpha) => UseRsLora ? alpha / Math.Sqrt(r) : alpha / r;

    /// <inheritdoc/>
    public override AdapterLayer CreateLayer(Linear baseLayer) => new LoraLayer(baseLayer);

    /// <inheritdoc/>
    public override JsonObject ToJson()
    {
        var json = base.ToJson();
        json["r"] = R;
        json["lora_alpha"] = LoraAlpha;
        json["lora_dropout"] = LoraDropout;
        json["bias"] = Bias;
        json["fan_in_fan_out"] = FanInFanOut;
        json["use_rslora"] = UseRsLora;
        json["use_dora"] = UseDora;
        json["init_lora_weights"] = InitLoraWeights switch
        {
            LoraInit.Default => JsonValue.Create(true),
            LoraInit.Random => JsonValue.Create(false),
            LoraInit.Gaussian => JsonValue.Create("gaussian"),
            LoraInit.Pissa => JsonValue.Create("pissa"),
            LoraInit.Olora => JsonValue.Create("olora"),
            _ => throw new InvalidOperationException($"LoraConfig: unknown initialisation {InitLoraWeights}"),
        };
        json["rank_pattern"] = new JsonObject(RankPattern.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value)));
        json["alpha_pattern"] = new JsonObject(AlphaPattern.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value)));
        return json;
    }

    /// <summary>Reads PEFT's <c>adapter_config.json</c> of a LoRA adapter.</summary>
    /// <exception cref="InvalidDataException">A field asks for something not implemented (another bias mode, EVA, LoftQ...).</exception>
    public static new LoraConfig FromJson(JsonObject json)
    {
        var init = json["init_lora_weights"] switch
        {
            null => LoraInit.Default,
            JsonValue v when v.TryGetValue<bool>(out var b) => b ? LoraInit.Default : LoraInit.Random,
            JsonValue v when v.GetValue<string>() == "gaussian" => LoraInit.Gaussian,
            // "pissa_niter_N" asks for a randomised SVD; the exact one gives the same subspace.
            JsonValue v when v.GetValue<string>().StartsWith("pissa", StringComparison.Ordinal) => LoraInit.Pissa,
            JsonValue v when v.GetValue<string>() == "olora" => LoraInit.Olora,
            var other => throw new InvalidDataException($"LoraConfig: init_lora_weights {other!.ToJsonString()} is not implemented (true, false, gaussian, pissa, olora)"),
        };
        string bias = json["bias"]?.GetValue<string>() ?? "none";
        if (bias != "none") throw new InvalidDataException($"LoraConfig: bias '{bias}' is not implemented (only 'none')");
        var config = new LoraConfig
        {
            R = json["r"]?.GetValue<int>() ?? 8,
            LoraAlpha = json["lora_alpha"]?.GetValue<double>() ?? 8,
            LoraDropout = json["lora_dropout"]?.GetValue<double>() ?? 0,
            FanInFanOut = json["fan_in_fan_out"]?.GetValue<bool>() ?? false,
            UseRsLora = json["use_rslora"]?.GetValue<bool>() ?? false,
            UseDora = json["use_dora"]?.GetValue<bool>() ?? false,
            InitLoraWeights = init,
            Bias = bias,
            RankPattern = (json["rank_pattern"] as JsonObject)?.ToDictionary(kv => kv.Key, kv => kv.Value!.GetValue<int>()) ?? new Dictionary<string, int>(),
            AlphaPattern = (json["alpha_pattern"] as JsonObject)?.ToDictionary(kv => kv.Key, kv => kv.Value!.GetValue<double>()) ?? new Dictionary<string, double>(),
        };
        return ReadCommon(config, json);
    }
}
