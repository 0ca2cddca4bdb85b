namespace Engine.Peft.Spectral;

/// <summary>
/// C3A (Chen et al. 2025, "Parameter-Efficient Fine-Tuning via Circular Convolution"; PEFT's <c>C3AConfig</c>): ΔW is
/// block-circulant, each b × b block a circulant matrix given by one kernel of length b, so a layer trains
/// out · in / b numbers yet ΔW can have full rank. PEFT's field names and defaults (block_size 256,
/// init_weights "xavier_uniform": the model does not start at the base).
/// <code>var peft = Peft.Apply(gpt, new C3aConfig { BlockSize = 16, TargetModules = ["qkv"] });</code>
/// </summary>
[PeftMethod("C3A", Layer = typeof(C3aLayer), Mergeable = true, StartsAtBase = false, ZooLearningRate = 3e-1)]
public sealed record C3aConfig : PeftConfig, IBiasConfig
{
    /// <summary>Side b of the circulant blocks; must divide the layer's in and out features.</summary>
    public int BlockSize { get; init; } = 256;

    /// <summary>Per-module block sizes: regular expressions matched against the end of the module path.</summary>
    public IReadOnlyDictionary<string, int> BlockSizePattern { get; init; } = new Dictionary<string, int>();

    /// <summary>How the kernels start (PEFT: xavier_uniform; true gives zeros).</summary>
    public C3aInit InitWeights { get; init; } = C3aInit.XavierUniform;

    /// <summary>Which biases of the base model train with the adapter: "none", "all" or "&lt;prefix&gt;_only" (<see cref="TrainedBiases"/>).</summary>
    public string Bias { get; init; } = "none";

    /// <summary>The block size of the module at <paramref name="path"/> (<see cref="BlockSizePattern"/> first).</summary>
    public int BlockSizeFor(ModulePath path) => TargetMatcher.FindPattern(BlockSizePattern, path) ?? BlockSize;

    /// <inheritdoc/>
    public override void Validate()
    {
        if (BlockSize < 1) throw new ArgumentException($"C3aConfig: block_size must be positive, got {BlockSize}");
        foreach (var (key, b) in BlockSizePattern ?? new Dictionary<string, int>())
            if (b < 1) throw new ArgumentException($"C3aConfig: block_size_pattern['{key}'] must be positive, got {b}");
        TrainedBiases.Validate("C3aConfig", Bias);
    }

    /// <inheritdoc/>
    public override IEnumerable<(string Field, string Pattern)> Patterns() =>
        base.Patterns().Concat((BlockSizePattern?.Keys ?? []).Select(k => ("block_size_pattern", k)));

    /// <summary>The zoo's C3A: blocks of 4 × size (a divisor of the names model's widths for powers of two), starting at zero.</summary>
    public static C3aConfig Preset(AdapterPreset p) => new() { BlockSize = 4 * p.Size, InitWeights = C3aInit.Zeros, TargetModules = p.Linears, Seed = p.Seed };
}
