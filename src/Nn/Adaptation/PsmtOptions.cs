namespace Engine.Nn;

/// <summary>
/// Settings of <see cref="ParameterSelectiveMeanTeacher"/>, defaulting to the released cfgs (JiaxuTian/PSMT
/// <c>classification/cfgs/*/psmt.yaml</c>; spec seeds-remaining.md §4).
/// </summary>
/// <param name="LearningRate">Adam's rate on the student (β = 0.9, 0.999; no weight decay).</param>
/// <param name="Lambda">λ of the Fisher-weighted anchor λ Σ F0 (θ − θ_src)² (500).</param>
/// <param name="Alpha">α of the symmetric cross-entropy (0.5).</param>
/// <param name="Quantile">The fraction of entries with the smallest squared gradient that are restored each step (0.03); 0 restores none.</param>
/// <param name="Momentum">m of the teacher's EMA θ′ ← m θ′ + (1 − m) θ (0.999).</param>
/// <param name="AnchorThreshold">When the source model's mean top probability on a batch is below it (0.72), the teacher's output is averaged over <paramref name="AugmentationPasses"/> augmented passes.</param>
/// <param name="AugmentationPasses">N_aug (32).</param>
public sealed record PsmtOptions(double LearningRate = 1e-3, double Lambda = 500, double Alpha = 0.5, double Quantile = 0.03,
    double Momentum = 0.999, double AnchorThreshold = 0.72, int AugmentationPasses = 32)
{
    /// <summary>Throws for settings outside their ranges.</summary>
    public void Validate()
    {
        if (!(LearningRate > 0) || !double.IsFinite(LearningRate)) throw new ArgumentOutOfRangeException(nameof(LearningRate), LearningRate, "PsmtOptions: the learning rate must be positive");
        if (!(Lambda >= 0) || !double.IsFinite(Lambda)) throw new ArgumentOutOfRangeException(nameof(Lambda), Lambda, "PsmtOptions: λ must be non-negative");
        if (!(Alpha >= 0 && Alpha <= 1)) throw new ArgumentOutOfRangeException(nameof(Alpha), Alpha, "PsmtOptions: α must be in [0, 1]");
        if (!(Quantile >= 0 && Quantile <= 1)) throw new ArgumentOutOfRangeException(nameof(Quantile), Quantile, "PsmtOptions: the quantile must be in [0, 1]");
        if (!(Momentum >= 0 && Momentum <= 1)) throw new ArgumentOutOfRangeException(nameof(Momentum), Momentum, "PsmtOptions: the momentum must be in [0, 1]");
        if (AugmentationPasses < 1) throw new ArgumentOutOfRangeException(nameof(AugmentationPasses), AugmentationPasses, "PsmtOptions: at least one augmentation pass");
    }
}
