namespace Engine.Peft.LowRank;

/// <summary>
/// BD-LoRA's options (PEFT's <c>BdLoraConfig</c>, the value of LoRA's <c>use_bdlora</c>): which targets get a
/// block-diagonal A (row-sharded layers: q, k, v, up, gate) and which a block-diagonal B (column-sharded: out, down),
/// each matched as a substring of the module name, and the number of blocks (the serving's sharding degree).
/// </summary>
public sealed record BdLoraConfig
{
    /// <summary>Substrings of the modules whose A is block-diagonal.</summary>
    public IReadOnlyList<string>? TargetModulesBdA { get; init; }

    /// <summary>Substrings of the modules whose B is block-diagonal.</summary>
    public IReadOnlyList<string>? TargetModulesBdB { get; init; }

    /// <summary>Number of diagonal blocks.</summary>
    public int Nblocks { get; init; } = 1;

    /// <summary>True: every target must match one of the two lists (PEFT's default); false: the others are plain LoRA.</summary>
    public bool MatchStrict { get; init; } = true;

    /// <summary>Checks the block count and that no pattern is in both lists (PEFT's <c>__post_init__</c>).</summary>
    public void Validate()
    {
        if (Nblocks < 1) throw new ArgumentException($"use_bdlora: nblocks must be positive, got {Nblocks}");
        var overlap = (TargetModulesBdA ?? []).Intersect(TargetModulesBdB ?? []).ToList();
        if (overlap.Count > 0) throw new ArgumentException($"use_bdlora: [{string.Join(", ", overlap)}] are in both target_modules_bd_a and target_modules_bd_b");
    }
}
