namespace Engine.Nn.Merging;

/// <summary>Where a method in a majority vote (TIES) takes the sign of each entry from (PEFT's <c>majority_sign_method</c>).</summary>
public enum MajoritySignMethod
{
    /// <summary>The sign of the sum of the task vectors' entries (PEFT's default "total").</summary>
    Total,

    /// <summary>The sign held by more task vectors, each counting once ("frequency").</summary>
    Frequency,
}

/// <summary>
/// The settings every merge method may read, so one command line builds any of them (<c>engine merge</c>). A method
/// ignores what it does not use; its documentation says which it reads and its paper's defaults.
/// </summary>
/// <param name="Weights">λ_i per fine-tuned model (null: the method's default, usually 1 each).</param>
/// <param name="Density">Fraction of entries kept by pruning methods (TIES, DARE, magnitude pruning, PCB's ratio r; SCE's select_topk); null: the method's default.</param>
/// <param name="MajoritySign">How TIES elects each entry's sign.</param>
/// <param name="Seed">Seed of random methods (DARE's drop mask).</param>
/// <param name="Validate">
/// Validation loss of a candidate merged state dict (lower is better), for methods that search their own
/// hyper-parameters (PCB's drop ratio and λ); null: no search, the given or default values are used.
/// </param>
public sealed record MergeOptions(
    IReadOnlyList<double>? Weights = null,
    double? Density = null,
    MajoritySignMethod MajoritySign = MajoritySignMethod.Total,
    ulong Seed = 0,
    Func<IReadOnlyDictionary<string, Tensor>, double>? Validate = null);
