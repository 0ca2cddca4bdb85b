using System.Text.Json.Serialization;

namespace Engine.Peft.LowRank;

/// <summary>
/// CorDA's options (PEFT's <c>CordaConfig</c>, the value of LoRA's <c>corda_config</c>; Yang et al. 2024, "CorDA:
/// Context-Oriented Decomposition Adaptation", arXiv:2406.05223): which end of the context-weighted SVD the adapter
/// takes (<see cref="Corda"/>). PEFT's cache and covariance files are PyTorch pickles of its own preprocessing; the
/// engine neither reads nor writes them and refuses them by name when an adapter is initialised.
/// </summary>
public sealed record CordaConfig
{
    /// <summary>PEFT's file of the cropped SVD (a torch.save pickle): must stay null in the engine.</summary>
    public string? CacheFile { get; init; }

    /// <summary>PEFT's file of the covariance matrices (a torch.save pickle): must stay null in the engine.</summary>
    public string? CovarianceFile { get; init; }

    /// <summary>"ipm" (instruction-previewed: the adapter takes the r largest context-weighted components) or "kpm"
    /// (knowledge-preserved: the r smallest). PEFT's default "ipm".</summary>
    public string CordaMethod { get; init; } = "ipm";

    /// <summary>PEFT prints progress; the engine prints nothing either way.</summary>
    public bool Verbose { get; init; }

    /// <summary>PEFT accumulates the covariance in float16 instead of float32; the engine always accumulates in Float64.</summary>
    [JsonPropertyName("use_float16_for_covariance")]
    public bool UseFloat16ForCovariance { get; init; }

    /// <summary>PEFT deletes its temporary module attributes; the engine keeps none either way.</summary>
    public bool PruneTemporaryFields { get; init; } = true;

    /// <summary>Checks <see cref="CordaMethod"/> (PEFT's <c>crop_corda_eigens</c> raises on any other value).</summary>
    public void Validate()
    {
        if (CordaMethod is not ("ipm" or "kpm")) throw new ArgumentException($"corda_config: corda_method must be 'ipm' or 'kpm', got '{CordaMethod}'");
    }

    /// <summary>Refuses PEFT's pickle files, which only its own preprocessing reads and writes.</summary>
    internal void RequireNoFiles()
    {
        if (CacheFile is not null) throw new NotSupportedException($"corda_config: cache_file '{CacheFile}' is PEFT's PyTorch pickle, which the engine does not read or write; leave it null (the calibration data gives the same result)");
        if (CovarianceFile is not null) throw new NotSupportedException($"corda_config: covariance_file '{CovarianceFile}' is PEFT's PyTorch pickle, which the engine does not read or write; leave it null");
    }
}
