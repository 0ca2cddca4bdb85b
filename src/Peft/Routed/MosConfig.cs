namespace Engine.Peft.Routed;

/// <summary>
/// MoS, Mixture of Shards (Wang et al., ICLR 2025, arXiv 2410.00938; Forence1999/MoS <c>modules/Tied_LoRA.py</c>;
/// spec adapters-lowrank.md section 12): every layer's LoRA factors are assembled from shards of two trainable pools
/// per module type that all layers of that type share. A row of A_i (a column of B_i) is the concatenation of l shards
/// drawn by fixed indices: (r − p) l shared draws from the pool's shared part and p l private shards of the layer's
/// own. Not in Hugging Face PEFT: saved with the engine's peft_type "MOS". The reference code was not available here:
/// the field names are the engine's (the paper's r, v, p, l are command-line arguments of its scripts).
/// <code>var peft = Peft.Apply(gpt, new MosConfig { R = 8, BudgetRank = 4, PrivateRank = 1, ShardsPerVector = 2, TargetModules = ["qkv"] });</code>
/// </summary>
[PeftMethod("MOS", Layer = typeof(MosLayer), ModelPart = typeof(MosPools), Mergeable = true, StartsAtBase = true, InPeft = false, ZooLearningRate = 1e-2)]
public sealed record MosConfig : PeftConfig
{
    /// <summary>r: the active rank of every layer's assembled A_i [r, in] and B_i [out, r].</summary>
    public int R { get; init; } = 8;

    /// <summary>v: the budget rank; the pools of a module type hold as many numbers as LoRA at rank v on all its layers.</summary>
    public int BudgetRank { get; init; } = 4;

    /// <summary>p: ranks of each layer built from its private shards (never shared with another layer).</summary>
    public int PrivateRank { get; init; } = 1;

    /// <summary>l: shards per vector; every adapted layer's input and output widths must be multiples of it.</summary>
    public int ShardsPerVector { get; init; } = 2;

    /// <summary>alpha: the update is scaled by alpha / r with the active r (not the budget v).</summary>
    public double LoraAlpha { get; init; } = 16;

    /// <summary>Dropout probability on the adapter's input.</summary>
    public double LoraDropout { get; init; }

    /// <summary>True when the Hugging Face layer stores its weight [in, out] (GPT-2's Conv1D).</summary>
    public bool FanInFanOut { get; init; }

    /// <summary>s = alpha / r.</summary>
    public double Scaling => LoraAlpha / R;

    /// <inheritdoc/>
    public override IEnumerable<PlannedTensor> PlanModelPart(AdapterModelPartContext context) => MosPools.Plan(context);

    /// <inheritdoc/>
    public override void Validate()
    {
        if (R < 1) throw new ArgumentException($"MosConfig: r must be positive, got {R}");
        if (BudgetRank < 1) throw new ArgumentException($"MosConfig: budget_rank must be positive, got {BudgetRank}");
        if (PrivateRank < 0 || PrivateRank > R || PrivateRank > BudgetRank)
            throw new ArgumentException($"MosConfig: private_rank must be in [0, min(r = {R}, budget_rank = {BudgetRank})], got {PrivateRank}");
        if (PrivateRank == BudgetRank && R > PrivateRank)
            throw new ArgumentException($"MosConfig: private_rank = budget_rank = {BudgetRank} leaves no shared shards for the other {R - PrivateRank} ranks of r = {R}");
        if (ShardsPerVector < 1) throw new ArgumentException($"MosConfig: shards_per_vector must be positive, got {ShardsPerVector}");
        if (!(LoraDropout >= 0 && LoraDropout < 1)) throw new ArgumentException($"MosConfig: lora_dropout must be in [0, 1), got {LoraDropout}");
        RequireFiniteInFloat32("lora_alpha", LoraAlpha);
    }

    /// <summary>
    /// The zoo's MoS: the budget rank v = size, so the pools hold exactly LoRA's count at rank size, with an active
    /// rank r = 2 x size, a quarter of it private, in shards of half vectors (l = 2).
    /// </summary>
    // r = 2v − p: the largest active rank whose shared part (r − p) fits the shards of a module type with two layers
    // ((v − p)·L with L = 2), so the preset runs on any model with at least two layers per module type.
    public static MosConfig Preset(AdapterPreset p) => new()
    {
        R = 2 * p.Size - Math.Max(1, p.Size / 4), BudgetRank = p.Size, PrivateRank = Math.Max(1, p.Size / 4), ShardsPerVector = 2,
        LoraAlpha = 4 * p.Size, TargetModules = p.Linears, Seed = p.Seed,
    };
}
