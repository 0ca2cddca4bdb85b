namespace Engine.Peft.LowRank;

/// <summary>
/// KaSA's options (PEFT's <c>KasaConfig</c>, the value of LoRA's <c>kasa_config</c>): the weights of the paper's two
/// auxiliary losses (Wang et al. 2024, arXiv:2412.06071, equations 9-11), which the training loop adds itself
/// (<see cref="KasaVariant.RegularizationLoss"/>); they do not change the adapted function.
/// </summary>
public sealed record KasaConfig
{
    /// <summary>beta: weight of the L2 penalty sum(lora_diag²) (PEFT's default 1e-4).</summary>
    public double Beta { get; init; } = 1e-4;

    /// <summary>gamma: weight of the orthogonality penalty ||BᵀB - I||_F + ||A Aᵀ - I||_F (PEFT's default 1e-3).</summary>
    public double Gamma { get; init; } = 1e-3;
}
