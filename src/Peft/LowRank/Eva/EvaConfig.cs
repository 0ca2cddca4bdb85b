namespace Engine.Peft.LowRank;

/// <summary>
/// EVA's options (PEFT's <c>EvaConfig</c> in lora/config.py, the value of LoRA's <c>eva_config</c>; Paischer et al.
/// 2024, "One Initialization to Rule them All: Fine-tuning via Explained Variance Adaptation", arXiv:2410.07170).
/// EVA starts A at the top right-singular vectors of each target's inputs and redistributes the ranks over the
/// targets by explained variance (<see cref="EvaInit"/>). PEFT's defaults; a LoRA config with
/// <c>init_lora_weights="eva"</c> and no <c>eva_config</c> uses them (as PEFT, which fills in a default one).
/// </summary>
public sealed record EvaConfig
{
    /// <summary>rho &gt;= 1: a target may receive up to round(rho r) ranks; the budget stays the sum of the targets' r (1 = no redistribution).</summary>
    public double Rho { get; init; } = 2.0;

    /// <summary>
    /// tau in [0, 1]: PEFT stops feeding a target's incremental PCA once the cosine similarity of its components between
    /// two batches reaches tau. The engine computes the exact PCA of all calibration inputs (<see cref="EvaInit"/>),
    /// the limit that early stopping approximates, so tau is validated and saved but stops nothing.
    /// </summary>
    public double Tau { get; init; } = 0.99;

    /// <summary>Drops positions whose label equals <see cref="LabelMaskValue"/> (<see cref="CalibrationData.Labels"/>) from the inputs.</summary>
    public bool UseLabelMask { get; init; } = true;

    /// <summary>The label that marks an ignored position (PyTorch's cross-entropy ignore index, -100).</summary>
    public long LabelMaskValue { get; init; } = -100;

    /// <summary>Divides each component by the square root of its singular value (PEFT: useful for vision models).</summary>
    public bool Whiten { get; init; }

    /// <summary>Multiplies alpha by new rank / r where EVA changed a target's rank, so that alpha / r stays as configured.</summary>
    public bool AdjustScalingFactors { get; init; } = true;

    /// <summary>PEFT's checks (<c>EvaConfig.__post_init__</c>): rho &gt;= 1 and tau in [0, 1].</summary>
    /// <exception cref="ArgumentException">rho or tau out of range (NaN included).</exception>
    public void Validate()
    {
        if (!(Rho >= 1.0)) throw new ArgumentException($"LoraConfig: eva_config.rho must be >= 1.0, got {Rho}");
        if (!(Tau >= 0.0 && Tau <= 1.0)) throw new ArgumentException($"LoraConfig: eva_config.tau must be between 0.0 and 1.0, got {Tau}");
    }
}
