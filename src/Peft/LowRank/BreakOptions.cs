namespace Engine.Peft.LowRank;

/// <summary>
/// How <see cref="BreakForMake.Break"/> trains one break run (the reference's <c>train_content.sh</c>/<c>train_style.sh</c>:
/// AdamW, constant rates 1e-4 and 1e-5, weight decay 1e-2, clipping at 1.0).
/// </summary>
/// <param name="Steps">Steps; each takes one step of both optimisers.</param>
/// <param name="Lr">Rate of the run's own factor half (A's for content, B's for style).</param>
/// <param name="AuxiliaryLr">Rate of the other factor half, trained on the auxiliary sets (a tenth of <paramref name="Lr"/> in the reference).</param>
/// <param name="WeightDecay">AdamW's decoupled decay of both optimisers (the reference's <c>adam_weight_decay</c> 1e-2).</param>
/// <param name="MaxGradNorm">Each optimiser clips its own parameters' gradients to this global norm; null: no clipping.</param>
/// <param name="AsReleased">
/// False (the spec's clean form): each optimiser steps on its own loss's gradient only. True: the released loop, where
/// each optimiser clears only its own factor, so the auxiliary step also sees the primary loss's gradient and the next
/// primary step also sees the previous auxiliary loss's gradient.
/// </param>
/// <param name="Progress">Called after each step with the step count and both losses.</param>
public sealed record BreakOptions(int Steps, double Lr = 1e-4, double AuxiliaryLr = 1e-5, double WeightDecay = 1e-2, double? MaxGradNorm = 1.0,
    bool AsReleased = false, Action<int, double, double>? Progress = null);
