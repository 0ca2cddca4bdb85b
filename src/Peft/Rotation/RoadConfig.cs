namespace Engine.Peft.Rotation;

/// <summary>
/// RoAd (Liao et al. 2024, "2D Rotary Adaptation", arXiv 2409.00119; PEFT's <c>RoadConfig</c>): the output h = x Wᵀ + b
/// of a Linear is split into groups of group_size; element i of the first half of a group is paired with element
/// i + group_size/2, and each pair is rotated and scaled, y = h ⊙ c + rot(h) ⊙ d with rot(h1, h2) = (−h2, h1). The
/// variant sets how many angles θ and scales α there are: road_1 out/2 (c = α cos θ, d = α sin θ shared by both halves of
/// a group), road_2 out (one per element), road_4 2·out (c and d from their own θ and α). PEFT's field names and
/// defaults (road_1, group_size 64). Spec section B.
/// <code>var peft = Peft.Apply(gpt, new RoadConfig { Variant = "road_2", GroupSize = 16, TargetModules = ["qkv"] });</code>
/// </summary>
[PeftMethod("ROAD", Layer = typeof(RoadLayer), Mergeable = true, StartsAtBase = true, ZooLearningRate = 1e-1,
    Variants = ["road_2: variant=road_2", "road_4: variant=road_4"])]
public sealed record RoadConfig : PeftConfig
{
    /// <summary>"road_1", "road_2" or "road_4": out/2, out or 2·out angles (and as many scales) per layer.</summary>
    public string Variant { get; init; } = "road_1";

    /// <summary>The width of the groups whose halves are paired; even, and it must divide each target's output width.</summary>
    public int GroupSize { get; init; } = 64;

    /// <summary>True: θ = 0, α = 1 (the identity); false: θ ~ N(0, 0.5²), α ~ N(1, 0.5²) (a non-trivial start for tests).</summary>
    public bool InitWeights { get; init; } = true;

    /// <inheritdoc/>
    public override void Validate()
    {
        if (Variant is not ("road_1" or "road_2" or "road_4")) throw new ArgumentException($"RoadConfig: variant must be 'road_1', 'road_2' or 'road_4', got '{Variant}'");
        if (GroupSize < 2 || GroupSize % 2 != 0) throw new ArgumentException($"RoadConfig: group_size must be a positive even number, got {GroupSize}");
    }

    /// <summary>
    /// The zoo's RoAd: road_1 on every block projection in groups of 2·size (RoAd has no rank; its parameter count is
    /// out/2 per layer whatever the groups, and groups of 2·size divide the widths of the zoo's and the tests' models,
    /// which PEFT's 64 does not).
    /// </summary>
    public static RoadConfig Preset(AdapterPreset p) => new() { GroupSize = 2 * p.Size, TargetModules = p.Linears, Seed = p.Seed };
}
