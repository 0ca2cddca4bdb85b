namespace Engine.Peft.LowRank;

/// <summary>
/// LoRA-GA's options (PEFT's <c>LoraGAConfig</c>, the value of LoRA's <c>lora_ga_config</c>; Wang et al. 2024,
/// "LoRA-GA: Low-Rank Adaptation with Gradient Approximation", arXiv:2407.05000): which singular vectors of the
/// averaged gradient go to A and B, and how B is scaled (<see cref="LoraGa"/>).
/// </summary>
public sealed record LoraGaConfig
{
    /// <summary>"ArB2r" (A the first r right singular vectors, B the next r left ones: the paper's choice and PEFT's
    /// default), "A2rBr" (the reverse), "ArBr" (B the even, A the odd indices of the first 2r) or "random" (the same r
    /// random indices of the first 2r for both).</summary>
    public string Direction { get; init; } = "ArB2r";

    /// <summary>"stable" (B times d_out^(1/4) / sqrt(stable_gamma), the paper's section 3.3; PEFT's default),
    /// "weight_svd" (B scaled so its first singular value is the weight's largest), "gd_scale" (A and B divided by the
    /// LoRA scale s) or "unit" (none).</summary>
    public string Scale { get; init; } = "stable";

    /// <summary>gamma of the stable scaling (PEFT's default 16).</summary>
    public int StableGamma { get; init; } = 16;

    /// <summary>Checks the names and gamma (PEFT's Literal types; a gamma of zero or less would divide by zero).</summary>
    public void Validate()
    {
        if (Direction is not ("ArBr" or "A2rBr" or "ArB2r" or "random"))
            throw new ArgumentException($"lora_ga_config: direction must be one of ArBr, A2rBr, ArB2r, random; got '{Direction}'");
        if (Scale is not ("stable" or "weight_svd" or "gd_scale" or "unit"))
            throw new ArgumentException($"lora_ga_config: scale must be one of stable, weight_svd, gd_scale, unit; got '{Scale}'");
        if (StableGamma < 1) throw new ArgumentException($"lora_ga_config: stable_gamma must be positive, got {StableGamma}");
    }
}
