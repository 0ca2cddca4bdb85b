using System.Text.Json.Nodes;

namespace Engine.Peft.Scaling;

/// <summary>
/// IA3 (Liu et al. 2022, section 3.3): learned vectors that rescale activations, initialised to 1. Targets in
/// <see cref="FeedforwardModules"/> scale their input (the feed-forward hidden activation, l_ff); the others scale
/// their output (keys and values, l_k and l_v; for GPT-2's fused c_attn the whole projection). PEFT's field names.
/// <code>var peft = Peft.Apply(gpt, new Ia3Config { TargetModules = ["c_attn", "mlp.c_proj"], FeedforwardModules = ["mlp.c_proj"] });</code>
/// </summary>
public sealed record Ia3Config : PeftConfig
{
    /// <inheritdoc/>
    public override string PeftType => "IA3";

    /// <summary>Targets whose input is scaled (names or suffixes; must also be targets).</summary>
    public IReadOnlyList<string>? FeedforwardModules { get; init; }

    /// <summary>True when the Hugging Face layer stores its weight [in, out] (GPT-2's Conv1D).</summary>
    public bool FanInFanOut { get; init; }

    /// <summary>True when the module at <paramref name="path"/> is a feed-forward target.</summary>
    public bool IsFeedforward(ModulePath path) => FeedforwardModules is { } ff && path.Names.Any(n => TargetMatcher.MatchesName(ff, n));

    /// <inheritdoc/>
    public override AdapterLayer CreateLayer(Linear baseLayer) => new Ia3Layer(baseLayer);

    /// <inheritdoc/>
    public override JsonObject ToJson()
    {
        var json = base.ToJson();
        json["feedforward_modules"] = FeedforwardModules is null ? null : new JsonArray(FeedforwardModules.Select(s => (JsonNode?)s).ToArray());
        json["fan_in_fan_out"] = FanInFanOut;
        json["init_ia3_weights"] = true;
        return json;
    }

    /// <summary>Reads PEFT's <c>adapter_config.json</c> of an IA3 adapter.</summary>
    public static new Ia3Config FromJson(JsonObject json)
    {
        var config = new Ia3Config
        {
            FeedforwardModules = Strings(json["feedforward_modules"]),
            FanInFanOut = json["fan_in_fan_out"]?.GetValue<bool>() ?? false,
        };
        return ReadCommon(config, json);
    }
}
