namespace Engine.Peft.Structured;

/// <summary>
/// MiSS (Kang and Yin 2024, "Matrix Shard Sharing", first published as Bone; PEFT's <c>MissConfig</c>): one small
/// trainable block shared by every r-wide input shard of the weight. The balanced form (init_weights true) adds
/// ΔW[:, c·r + k] = D[k, :]ᵀ with D [r, out]; "mini" tiles a D [r, mini_r] along the outputs; "bat" is Bone's
/// block-affine W'_{a,c} = W_{a,c} + W_{a,c} D_a + D_a with D [out/r, r, r]. PEFT's field names and defaults (r 64,
/// mini_r 1). Folders of the former peft_type BONE (keys <c>bone_block</c>) load as MiSS and save as MISS.
/// <code>var peft = Peft.Apply(gpt, new MissConfig { R = 8, TargetModules = ["qkv"] });</code>
/// </summary>
[PeftMethod("MISS", Layer = typeof(MissLayer), Mergeable = true, StartsAtBase = true, ZooLearningRate = 3e-3,
    FormerPeftType = "BONE", FormerKeyFragment = ".bone_", KeyFragment = ".miss_",
    Variants = ["miss_bat: init_weights=bat", "miss_mini: init_weights=mini, mini_r=8"])]
public sealed record MissConfig : PeftConfig, IBiasConfig
{
    /// <summary>Rank r: the width of the input shards (balanced, mini) or of the square blocks (bat).</summary>
    public int R { get; init; } = 64;

    /// <summary>Dropout probability on the adapter's input (balanced and mini forms; PEFT's bat form ignores it).</summary>
    public double MissDropout { get; init; }

    /// <summary>The number of distinct output columns of D in the mini form; it must divide the output width.</summary>
    public int MiniR { get; init; } = 1;

    /// <summary>The form and start (true: balanced at zero; false: balanced random; "bat"; "mini").</summary>
    public MissInit InitWeights { get; init; } = MissInit.Default;

    /// <summary>Which biases of the base model train with the adapter: "none", "all" or "&lt;prefix&gt;_only" (<see cref="TrainedBiases"/>).</summary>
    public string Bias { get; init; } = "none";

    /// <inheritdoc/>
    public override void Validate()
    {
        if (R < 1) throw new ArgumentException($"MissConfig: r must be positive, got {R}");
        if (MiniR < 1) throw new ArgumentException($"MissConfig: mini_r must be positive, got {MiniR}");
        if (!(MissDropout >= 0 && MissDropout < 1)) throw new ArgumentException($"MissConfig: miss_dropout must be in [0, 1), got {MissDropout}");
        TrainedBiases.Validate("MissConfig", Bias);
    }

    /// <summary>The zoo's MiSS: shard width = size, every block projection.</summary>
    public static MissConfig Preset(AdapterPreset p) => new() { R = p.Size, TargetModules = p.Linears, Seed = p.Seed };
}
