using System.Text.Json.Serialization;

namespace Engine.Peft.Rotation;

/// <summary>
/// HRA (Yuan et al. 2024, "Bridging The Gap between Low-rank and Orthogonal Adaptation via Householder Reflection
/// Adaptation", arXiv 2405.17484; PEFT's <c>HRAConfig</c>): W' = W H with H = Π_i (I − 2 û_i û_iᵀ), a chain of r
/// Householder reflections of the input side, û_i the normalised columns of <c>hra_u</c> [in, r]; with apply_GS the
/// columns are first made orthonormal by Gram–Schmidt and H = I − 2 U Uᵀ. PEFT's field names and defaults (r 8,
/// apply_GS false). Spec section B.
/// <code>var peft = Peft.Apply(gpt, new HraConfig { R = 8, TargetModules = ["qkv"] });</code>
/// </summary>
[PeftMethod("HRA", Layer = typeof(HraLayer), ModelPart = typeof(HraModelPart), Mergeable = true, StartsAtBase = true, ZooLearningRate = 3e-2)]
public sealed record HraConfig : PeftConfig, IBiasConfig
{
    /// <summary>Rank r: the number of reflections. Even r starts at H = I (pairs of equal columns); odd r starts random.</summary>
    public int R { get; init; } = 8;

    /// <summary>Orthonormalise the columns by Gram–Schmidt and use H = I − 2 U Uᵀ.</summary>
    [JsonPropertyName("apply_GS")]
    public bool ApplyGS { get; init; }

    /// <summary>True: PEFT's symmetric start (each kaiming column repeated twice, so H = I); false: kaiming columns (H ≠ I).</summary>
    public bool InitWeights { get; init; } = true;

    /// <summary>Which biases of the base model train with the adapter: "none", "all" or "hra_only" (<see cref="TrainedBiases"/>).</summary>
    public string Bias { get; init; } = "none";

    /// <summary>
    /// λ of the paper's orthogonality regulariser λ Σ_layers ‖I − ÛᵀÛ‖_F² (Û: the normalised columns), added to the
    /// training loss by <see cref="HraModelPart"/>. PEFT has no such term (0, the default, is PEFT's behaviour). The
    /// engine's field: not written to files.
    /// </summary>
    [JsonIgnore]
    public double OrthRegWeight { get; init; }

    /// <inheritdoc/>
    public override void Validate()
    {
        if (R < 1) throw new ArgumentException($"HraConfig: r must be positive, got {R}");
        if (!(OrthRegWeight >= 0) || double.IsInfinity(OrthRegWeight)) throw new ArgumentException($"HraConfig: the orthogonality weight must be finite and non-negative, got {OrthRegWeight}");
        TrainedBiases.Validate("HraConfig", Bias);
    }

    /// <summary>The zoo's HRA: r = size reflections on every block projection.</summary>
    public static HraConfig Preset(AdapterPreset p) => new() { R = p.Size, TargetModules = p.Linears, Seed = p.Seed };
}
