namespace Engine.Nn;

/// <summary>What <see cref="SpaceTime.ForwardWindow"/> returns for a window of L + T values.</summary>
/// <param name="Forecast">The closed-loop forecast of the values at positions L..L+T-1, [B, T].</param>
/// <param name="OpenLoop">The open-loop outputs over the lag window, [B, L]: position t predicts the value at t + 1.</param>
/// <param name="PredictedInputs">The decoder's closed-loop predictions û of its own inputs at positions L..L+T-1, [B, T, W].</param>
/// <param name="NextInputs">The decoder's actual inputs at those positions (the encoder run on the true future), [B, T, W], without gradient.</param>
public sealed record SpaceTimeOutput(Tensor Forecast, Tensor OpenLoop, Tensor PredictedInputs, Tensor NextInputs);
