namespace Engine.Peft.LowRank;

/// <summary>
/// VeLoRA's options (PEFT's <c>VeloraConfig</c>, the value of LoRA's <c>velora_config</c>; Miles et al. 2024,
/// "VeLoRA: Memory Efficient Training using Rank-1 Sub-Token Projections", arXiv:2405.17991): how the input of
/// <c>lora_A</c> is compressed for the backward pass (<see cref="VeloraVariant"/>). They change no forward value.
/// </summary>
public sealed record VeloraConfig
{
    /// <summary>Groups each input row is split into (sub-tokens of ceil(in / num_groups) features, zero-padded); PEFT's default 64.</summary>
    public int NumGroups { get; init; } = 64;

    /// <summary>Factor on the reconstructed activations in the backward pass (PEFT's default 1).</summary>
    public double Scale { get; init; } = 1.0;

    /// <summary>
    /// How the projection vector is set: "batch_average" (the normalised mean sub-token of every training batch, PEFT's
    /// default), "batch_average_once" (of the first training batch only) or "random" (normalised N(0, 1) when added).
    /// </summary>
    public string InitType { get; init; } = "batch_average";

    /// <summary>Checks the fields as PEFT's <c>__post_init__</c> does.</summary>
    public void Validate()
    {
        if (NumGroups < 1) throw new ArgumentException($"velora_config: num_groups must be positive, got {NumGroups}");
        if (!(Scale > 0) || double.IsInfinity(Scale)) throw new ArgumentException($"velora_config: scale must be positive and finite, got {Scale}");
        if (InitType is not ("batch_average" or "batch_average_once" or "random"))
            throw new ArgumentException($"velora_config: init_type must be 'batch_average', 'batch_average_once' or 'random', got '{InitType}'");
    }
}
