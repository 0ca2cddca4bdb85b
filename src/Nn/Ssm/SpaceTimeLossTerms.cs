namespace Engine.Nn;

/// <summary>The terms of <see cref="SpaceTimeLoss"/>.</summary>
/// <param name="Total">w0 · Closed + w1 · Open + w2 · Inputs, the scalar to minimise.</param>
/// <param name="Closed">The closed-loop forecast RMSE over the horizon.</param>
/// <param name="Open">The open-loop next-value RMSE over the lag window.</param>
/// <param name="Inputs">The RMSE of the decoder's predicted next inputs.</param>
public sealed record SpaceTimeLossTerms(Tensor Total, Tensor Closed, Tensor Open, Tensor Inputs);
