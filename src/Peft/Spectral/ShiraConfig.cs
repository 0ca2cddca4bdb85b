using System.Text.Json.Serialization;

namespace Engine.Peft.Spectral;

/// <summary>
/// SHiRA (Bhardwaj et al. 2024, "Sparse High Rank Adapters"; PEFT's <c>ShiraConfig</c>): each adapted weight trains
/// k = r · (in + out) of its entries (as many numbers as a rank-r LoRA) at a fixed sparse mask, so ΔW is sparse but
/// of high rank. PEFT's field names and defaults (r 32, mask_type "random", random_seed null, init_weights true).
/// <code>var peft = Peft.Apply(gpt, new ShiraConfig { R = 4, RandomSeed = 1, TargetModules = ["qkv"] });</code>
/// </summary>
[PeftMethod("SHIRA", Layer = typeof(ShiraLayer), Mergeable = true, StartsAtBase = true, ZooLearningRate = 3e-2)]
public sealed record ShiraConfig : PeftConfig
{
    /// <summary>Sets the size k = r · (in + out) of each layer's mask (the rank of ΔW is not limited by it).</summary>
    public int R { get; init; } = 32;

    /// <summary>"random" (PEFT's only built-in mask); another name needs <see cref="MaskFn"/> to create an adapter.</summary>
    public string MaskType { get; init; } = "random";

    /// <summary>Seed of torch's generator for the random mask; null is a fresh torch.Generator(), whose seed is 67280421310721.</summary>
    public ulong? RandomSeed { get; init; }

    /// <summary>True when the Hugging Face layer stores its weight [in, out] (GPT-2's Conv1D).</summary>
    public bool FanInFanOut { get; init; }

    /// <summary>True: the entries start at zero (the model starts at the base); false: N(0, 1).</summary>
    public bool InitWeights { get; init; } = true;

    /// <summary>
    /// A custom mask (PEFT's <c>mask_fn(base_layer, r)</c>): given the base layer and r, the [out, in] mask as booleans
    /// (row-major) with exactly r · (in + out) entries set. Code, not data: never written to files (a loaded file
    /// brings its own indices).
    /// </summary>
    [JsonIgnore]
    public Func<Linear, int, bool[]>? MaskFn { get; init; }

    /// <summary>The seed torch.Generator() starts with (c10's default_rng_seed_val), PEFT's mask seed when random_seed is null.</summary>
    public const ulong TorchDefaultSeed = 67280421310721;

    /// <inheritdoc/>
    public override void Validate()
    {
        if (R < 1) throw new ArgumentException($"ShiraConfig: r must be positive, got {R}");
        if (string.IsNullOrEmpty(MaskType)) throw new ArgumentException("ShiraConfig: mask_type must be a name (\"random\" or a custom mask's)");
    }

    /// <summary>The zoo's SHiRA: r = size, a seeded random mask.</summary>
    public static ShiraConfig Preset(AdapterPreset p) => new() { R = p.Size, RandomSeed = p.Seed, TargetModules = p.Linears, Seed = p.Seed };
}
