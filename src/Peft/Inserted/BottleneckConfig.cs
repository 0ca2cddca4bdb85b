using System.Text.Json.Nodes;

namespace Engine.Peft.Inserted;

/// <summary>
/// Bottleneck adapters (Houlsby et al. 2019, section 2.1): h ← h + f(h W_down^T) W_up^T inserted after the output
/// projection of attention and/or of the feed-forward block, before the residual add. PEFT has no such method: the
/// files use the same layout with our own <c>peft_type</c> "BOTTLENECK". Not mergeable (f is non-linear).
/// <code>var peft = Peft.Apply(gpt, new BottleneckConfig { BottleneckSize = 16, TargetModules = ["attn.proj", "mlp.proj"] });</code>
/// </summary>
public sealed record BottleneckConfig : PeftConfig
{
    /// <inheritdoc/>
    public override string PeftType => "BOTTLENECK";

    /// <summary>Width m of the bottleneck.</summary>
    public int BottleneckSize { get; init; } = 64;

    /// <summary>The non-linearity f: "gelu", "relu" or "tanh".</summary>
    public string Activation { get; init; } = "gelu";

    /// <summary>Standard deviation of the near-zero initialisation of both projections (the paper's near-identity start).</summary>
    public double InitStd { get; init; } = 1e-3;

    /// <summary>Seed of the initialisation; null uses the global generator.</summary>
    public ulong? Seed { get; init; }

    /// <inheritdoc/>
    public override AdapterLayer CreateLayer(Linear baseLayer) => new BottleneckLayer(baseLayer);

    /// <inheritdoc/>
    public override JsonObject ToJson()
    {
        var json = base.ToJson();
        json["bottleneck_size"] = BottleneckSize;
        json["activation"] = Activation;
        json["init_std"] = InitStd;
        return json;
    }

    /// <summary>Reads the <c>adapter_config.json</c> of a bottleneck adapter.</summary>
    public static new BottleneckConfig FromJson(JsonObject json)
    {
        var config = new BottleneckConfig
        {
            BottleneckSize = json["bottleneck_size"]?.GetValue<int>() ?? 64,
            Activation = json["activation"]?.GetValue<string>() ?? "gelu",
            InitStd = json["init_std"]?.GetValue<double>() ?? 1e-3,
        };
        return ReadCommon(config, json);
    }
}
