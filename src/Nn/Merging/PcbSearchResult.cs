namespace Engine.Nn.Merging;

/// <summary>One candidate of <see cref="PcbMerge"/>'s search: the drop ratio r, the common λ and its validation loss.</summary>
/// <param name="Ratio">Fraction r of entries each task vector keeps.</param>
/// <param name="Lambda">Common scale λ of every task vector (it multiplies the given <see cref="MergeOptions.Weights"/>).</param>
/// <param name="Loss">What <see cref="MergeOptions.Validate"/> returned for the merged model (NaN counts as worst).</param>
public sealed record PcbTrial(double Ratio, double Lambda, double Loss);

/// <summary>
/// The outcome of <see cref="PcbMerge"/>'s search when <see cref="MergeOptions.Validate"/> is given: the chosen (r, λ),
/// its loss, and every trial in the order it ran, so a caller can print the choice and the grid.
/// </summary>
/// <param name="Ratio">The chosen r.</param>
/// <param name="Lambda">The chosen λ.</param>
/// <param name="Loss">The chosen point's validation loss (the smallest; the first in grid order on ties).</param>
/// <param name="Trials">All candidates evaluated, ratio-major.</param>
public sealed record PcbSearchResult(double Ratio, double Lambda, double Loss, IReadOnlyList<PcbTrial> Trials);
