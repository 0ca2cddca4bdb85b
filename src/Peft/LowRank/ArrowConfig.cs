namespace Engine.Peft.LowRank;

/// <summary>
/// Arrow's options (PEFT's <c>ArrowConfig</c>, lora/config.py, the value of LoRA's <c>arrow_config</c>): how the router
/// adapter mixes the LoRA experts loaded beside it (Ostapenko et al. 2024, "Towards Modular LLMs by Building and
/// Reusing a Library of LoRAs", arXiv:2405.11157, section 4) and whether general adapters are subtracted from them
/// first (GenKnowSub, Belofsky et al. 2025, ACL short 54). <see cref="Arrow.CreateModel{T}"/> fills the two name lists.
/// </summary>
public sealed record ArrowConfig
{
    /// <summary>How many experts each token is routed to (PEFT's default 3).</summary>
    public int TopK { get; init; } = 3;

    /// <summary>The softmax temperature of the top-k scores (PEFT's default 1).</summary>
    public double RouterTemperature { get; init; } = 1.0;

    /// <summary>GenKnowSub: subtract the mean of the general adapters' A and B from every expert's, once, before routing.</summary>
    public bool UseGks { get; init; }

    /// <summary>The task experts' adapter names (<c>task_0</c>, ...), as <see cref="Arrow.CreateModel{T}"/> loaded them; written to files, informative only.</summary>
    public IReadOnlyList<string>? TaskAdapterNames { get; init; }

    /// <summary>The general adapters' names (<c>gks_0</c>, ...) whose mean GenKnowSub subtracts.</summary>
    public IReadOnlyList<string>? GksAdapterNames { get; init; }

    /// <summary>The seed of torch's generator that draws the power iteration's start vector; null: PEFT draws it from torch's global generator (see <see cref="ArrowVariant"/>).</summary>
    public long? RngSeed { get; init; }

    /// <summary>Checks top_k and the temperature (PEFT's <c>__post_init__</c>) and that GenKnowSub has general adapters to subtract.</summary>
    public void Validate()
    {
        if (TopK < 1) throw new ArgumentException($"arrow_config: top_k must be positive, got {TopK}");
        if (!(RouterTemperature > 0) || double.IsInfinity(RouterTemperature))
            throw new ArgumentException($"arrow_config: router_temperature must be a positive number, got {RouterTemperature}");
        if (UseGks && GksAdapterNames is not { Count: > 0 })
            throw new ArgumentException("arrow_config: use_gks needs gks_adapter_names (the general adapters whose mean is subtracted); Arrow.CreateModel sets them from the general adapter folders");
    }
}
