namespace Engine.Nn;

/// <summary>
/// What a <see cref="ClosedLoopCompanionSsm"/> returns for a lag window of length L and a horizon of length T.
/// </summary>
/// <param name="Forecast">y_i = cᵀ x_{L+i}, i = 0..T-1, [B, T, H]: the layer's outputs for the positions after the lag.</param>
/// <param name="PredictedInputs">û_i = kᵀ x_{L+i}, [B, T, H]: the layer's prediction of its own inputs at positions L+i, fed back in the closed loop.</param>
/// <param name="OpenLoop">y_t = cᵀ x_{t+1}, t = 0..L-1, [B, L, H]: the open-loop outputs over the lag window (for lag supervision).</param>
/// <param name="LastLagState">x_L, [B, H, d]: the state after the lag window.</param>
public sealed record ClosedLoopForecast(Tensor Forecast, Tensor PredictedInputs, Tensor OpenLoop, Tensor LastLagState);
