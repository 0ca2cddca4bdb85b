using System.Text.Json.Serialization;

namespace Engine.Peft.Mixture;

/// <summary>
/// Lily (Zhong et al. 2024, "Low-Rank Interconnected Adaptation across Layers", arXiv:2407.09946): a low-rank
/// projector A shared by groups of <c>stride_A</c> consecutive layers and <c>num_B</c> up-projection experts B shared
/// by every layer of the same target and shape, mixed per layer by a router (<see cref="LilyLayer"/>,
/// <see cref="LilySharing"/>). PEFT's field names and defaults (<c>lily/config.py</c>: r 32, stride_A 1, num_B 2,
/// scaling 1.0). The mixture weights are averaged over the batch, so the update is no fixed ΔW: Lily cannot merge.
/// <code>var peft = Peft.Apply(gpt, new LilyConfig { R = 16, StrideA = 2, NumB = 4, TargetModules = ["qkv", "mlp.fc"] });</code>
/// </summary>
[PeftMethod("LILY", Layer = typeof(LilyLayer), ModelPart = typeof(LilySharing), Mergeable = false, StartsAtBase = true, ZooLearningRate = 1e-2)]
public sealed record LilyConfig : PeftConfig
{
    /// <summary>Rank r of A [r, in] and of each expert B_e [r, out].</summary>
    public int R { get; init; } = 32;

    /// <summary>How many consecutive layers of one target (and shape) share one A (1: every layer has its own).</summary>
    [JsonPropertyName("stride_A")]
    public int StrideA { get; init; } = 1;

    /// <summary>The number of B experts shared by every layer of one target (and shape); at least 2 (the router needs a choice).</summary>
    [JsonPropertyName("num_B")]
    public int NumB { get; init; } = 2;

    /// <summary>The multiplier of the update (Lily has no alpha / r).</summary>
    public double Scaling { get; init; } = 1.0;

    /// <summary>True: B = 0, so the adapted model starts at the base; false: B is Kaiming-uniform too (a debug init).</summary>
    public bool InitWeights { get; init; } = true;

    /// <inheritdoc/>
    public override void Validate()
    {
        if (R < 1) throw new ArgumentException($"LilyConfig: r must be positive, got {R}");
        // PEFT's LilyConfig.__post_init__ refuses both.
        if (StrideA < 1) throw new ArgumentException($"LilyConfig: stride_A must be at least 1, got {StrideA}");
        if (NumB < 2) throw new ArgumentException($"LilyConfig: num_B must be at least 2 for the router to be trained, got {NumB}");
        if (LayersPattern is not null && LayersToTransform is null)
            throw new ArgumentException("LilyConfig: when layers_pattern is given, layers_to_transform must be given too");
        RequireFiniteInFloat32("scaling", Scaling);
    }

    /// <summary>The zoo's Lily: rank 2 x size (Lily's authors suggest a larger rank than LoRA's), A shared by pairs of layers, 4 experts.</summary>
    public static LilyConfig Preset(AdapterPreset p) => new() { R = 2 * p.Size, StrideA = 2, NumB = 4, TargetModules = p.Linears, Seed = p.Seed };
}
