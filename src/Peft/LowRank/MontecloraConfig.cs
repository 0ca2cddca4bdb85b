namespace Engine.Peft.LowRank;

/// <summary>
/// MonteCLoRA's options (PEFT's <c>MontecloraConfig</c> in lora/config.py, the value of LoRA's <c>monteclora_config</c>;
/// Sengupta et al. 2024, "Robust and efficient fine-tuning of LLMs with Bayesian reparameterization of low-rank
/// adaptation", arXiv:2411.04358). Field names and defaults are PEFT's.
/// <code>new LoraConfig { R = 8, MontecloraConfig = new() { NumSamples = 4 } }</code>
/// </summary>
public sealed record MontecloraConfig
{
    /// <summary>N: Monte Carlo samples of A mixed in each training forward (PEFT's default 8).</summary>
    public int NumSamples { get; init; } = 8;

    /// <summary>Adds sum(w²) of the sampled mixture weights to the loss (PEFT's "entropy" term, unweighted).</summary>
    public bool UseEntropy { get; init; }

    /// <summary>The concentration of the Dirichlet prior over the mixture weights (PEFT's default 0.1).</summary>
    public double DirichletPrior { get; init; } = 0.1;

    /// <summary>The scale of the sampled perturbations of A (PEFT's default 1e-4).</summary>
    public double SampleScaler { get; init; } = 1e-4;

    /// <summary>The weight of the three KL terms in the loss (PEFT's default 1e-5).</summary>
    public double KlLossWeight { get; init; } = 1e-5;

    /// <summary>
    /// PEFT's count of pre-drawn samples (an efficiency buffer: its samples are independent, so it does not change
    /// the distribution). Kept for the file; the engine draws each forward's sample when it needs it.
    /// </summary>
    public int BufferSize { get; init; } = 150;

    /// <summary>PEFT's checks (<c>__post_init__</c>), and finite values.</summary>
    /// <exception cref="ArgumentException">A count or the prior is not positive, or a value is not finite.</exception>
    public void Validate()
    {
        if (NumSamples < 1) throw new ArgumentException($"monteclora_config: num_samples must be positive, got {NumSamples}");
        if (!(DirichletPrior > 0 && DirichletPrior <= float.MaxValue)) throw new ArgumentException($"monteclora_config: dirichlet_prior must be positive and finite, got {DirichletPrior}");
        if (BufferSize < 1) throw new ArgumentException($"monteclora_config: buffer_size must be positive, got {BufferSize}");
        if (!double.IsFinite(SampleScaler)) throw new ArgumentException($"monteclora_config: sample_scaler must be finite, got {SampleScaler}");
        if (!double.IsFinite(KlLossWeight)) throw new ArgumentException($"monteclora_config: kl_loss_weight must be finite, got {KlLossWeight}");
    }
}
