using System.Text.Json.Serialization;

namespace Engine.Peft.Elementwise;

/// <summary>
/// GLoRA (Chavan et al. 2023, "One-for-All: Generalized LoRA for Parameter-Efficient Fine-tuning"; PEFT's
/// <c>GloraConfig</c>): W' = W0 + W0 ⊙ A + B and b' = b0 + b0 ⊙ D + E + W0 C, each path a low-rank product
/// ("lora"), a vector, a constant or nothing, chosen per group of paths. PEFT's field names and defaults
/// (r 8, A and B "lora", C "lora", D and E "constant").
/// <code>var peft = Peft.Apply(gpt, new GloraConfig { R = 4, TargetModules = ["c_attn"] });</code>
/// </summary>
[PeftMethod("GLORA", Layer = typeof(GloraLayer), Mergeable = true, StartsAtBase = true, ZooLearningRate = 3e-2)]
public sealed record GloraConfig : PeftConfig, IBiasConfig
{
    static readonly string[] AbKinds = ["lora", "vector", "constant", "none"], CKinds = ["lora", "vector", "none"], DeKinds = ["vector", "constant", "none"];

    /// <summary>Rank of the "lora" paths.</summary>
    public int R { get; init; } = 8;

    /// <summary>Which biases of the base model train with the adapter: "none", "all" or "&lt;prefix&gt;_only" (<see cref="TrainedBiases"/>).</summary>
    public string Bias { get; init; } = "none";

    /// <summary>The form of A (scales W0 elementwise) and B (added to W): "lora", "vector", "constant" or "none".</summary>
    [JsonPropertyName("config_A_B")]
    public string ConfigAB { get; init; } = "lora";

    /// <summary>The form of C (W0 C is added to the bias): "lora", "vector" or "none".</summary>
    [JsonPropertyName("config_C")]
    public string ConfigC { get; init; } = "lora";

    /// <summary>The form of D (scales b0) and E (added to the bias): "vector", "constant" or "none".</summary>
    [JsonPropertyName("config_D_E")]
    public string ConfigDE { get; init; } = "constant";

    /// <summary>True: the paths start at zero (the "lora" paths' Xd = 0), so the model starts at the base; false: random (tests).</summary>
    public bool InitWeights { get; init; } = true;

    /// <inheritdoc/>
    public override void Validate()
    {
        if (R < 1) throw new ArgumentException($"GloraConfig: r must be positive, got {R}");
        if (!AbKinds.Contains(ConfigAB)) throw new ArgumentException($"GloraConfig: config_A_B '{ConfigAB}' is not one of {string.Join(", ", AbKinds)}");
        if (!CKinds.Contains(ConfigC)) throw new ArgumentException($"GloraConfig: config_C '{ConfigC}' is not one of {string.Join(", ", CKinds)}");
        if (!DeKinds.Contains(ConfigDE)) throw new ArgumentException($"GloraConfig: config_D_E '{ConfigDE}' is not one of {string.Join(", ", DeKinds)}");
        TrainedBiases.Validate("GloraConfig", Bias);
    }

    /// <summary>The zoo's GLoRA: rank = size, PEFT's default paths, every block projection.</summary>
    public static GloraConfig Preset(AdapterPreset p) => new() { R = p.Size, TargetModules = p.Linears, Seed = p.Seed };
}
