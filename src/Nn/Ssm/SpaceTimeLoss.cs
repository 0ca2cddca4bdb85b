namespace Engine.Nn;

/// <summary>
/// SpaceTime's training objective (reference <c>train/step/informer.py</c>; spec seeds-remaining §3), a weighted sum of
/// three root-mean-square errors: w0 · RMSE(closed-loop forecast, y[L..L+T-1]) + w1 · RMSE(open-loop lag outputs from
/// position <c>skip</c> on, y[skip+1..L]) + w2 · RMSE(û, the decoder's actual next inputs).
/// <code>var terms = SpaceTimeLoss.Compute(model.ForwardWindow(window), window, model.Config.Lag); // terms.Total</code>
/// </summary>
public static class SpaceTimeLoss
{
    /// <summary>
    /// The three terms and their weighted sum for <paramref name="output"/> of a <paramref name="window"/> [B, L + T].
    /// <paramref name="skip"/> leaves out the first open-loop outputs, which see the zeros before the start through
    /// the differencing kernels (the reference skips kernel_dim - 1 = 3).
    /// </summary>
    public static SpaceTimeLossTerms Compute(SpaceTimeOutput output, Tensor window, int lag, double w0 = 1, double w1 = 1, double w2 = 1, int skip = 3)
    {
        int horizon = output.Forecast.Size(1);
        if (window.Rank != 2 || window.Size(1) != lag + horizon)
            throw new ArgumentException($"SpaceTimeLoss: expects a window [batch, {lag + horizon}] (lag {lag} + horizon {horizon}), got {Shapes.Format(window.Shape)}");
        if (skip < 0 || skip >= lag) throw new ArgumentException($"SpaceTimeLoss: skip must be in [0, lag), got {skip} with lag {lag}");
        var closed = Rmse(output.Forecast, window.Narrow(1, lag, horizon));
        var open = Rmse(output.OpenLoop.Narrow(1, skip, lag - skip), window.Narrow(1, skip + 1, lag - skip));
        var inputs = Rmse(output.PredictedInputs, output.NextInputs);
        return new SpaceTimeLossTerms(closed * w0 + open * w1 + inputs * w2, closed, open, inputs);
    }

    /// <summary>sqrt(mean((prediction - target)²)).</summary>
    public static Tensor Rmse(Tensor prediction, Tensor target) => Losses.Mse(prediction, target).Sqrt();
}
