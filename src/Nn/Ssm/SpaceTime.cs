namespace Engine.Nn;

/// <summary>
/// A small SpaceTime forecaster (Zhang et al. 2023, section 3.3; spec seeds-remaining §3): a linear embedding of the
/// scalar series to width W, encoder blocks (<see cref="SpaceTimeBlock"/>: companion SSMs + MLPs, the first one on
/// differenced inputs), the closed-loop decoder (<see cref="ClosedLoopCompanionSsm"/>, no skip, identity MLP) and a
/// linear read-out. The forecast depends on the lag window only; any horizon can be rolled out by the closed loop.
/// Sub-modules: <c>embedding</c>, <c>encoder.{i}</c>, <c>decoder</c>, <c>output</c>. Series are [B, length] scalars.
/// <code>var model = new SpaceTime(new SpaceTimeConfig(Lag: 64, Horizon: 32)); var f = model.Forecast(lag); // [B, 32]</code>
/// </summary>
public sealed class SpaceTime : Module
{
    /// <summary>A network shaped by <paramref name="config"/>.</summary>
    public SpaceTime(SpaceTimeConfig config, Generator? generator = null)
    {
        config.Validate();
        Config = config;
        RegisterModule("embedding", new Linear(1, config.Width, true, generator));
        var encoder = new Sequential();
        for (int i = 0; i < config.EncoderBlocks; i++)
            encoder.Add(new SpaceTimeBlock(config.Width, config.StateSize, config.MlpRatio, config.Differencing && i == 0, config.NormalizeA, generator));
        RegisterModule("encoder", encoder);
        RegisterModule("decoder", new ClosedLoopCompanionSsm(config.Width, config.StateSize, config.NormalizeA, generator));
        RegisterModule("output", new Linear(config.Width, 1, true, generator));
    }

    /// <summary>The shape of the network.</summary>
    public SpaceTimeConfig Config { get; }

    /// <summary>The closed-loop decoder.</summary>
    public ClosedLoopCompanionSsm Decoder => Unwrapped<ClosedLoopCompanionSsm>("decoder");

    /// <summary>Not defined for a single tensor: use <see cref="ForwardWindow"/>, <see cref="Forecast"/> or <see cref="ForecastZeroPadded"/>.</summary>
    public override Tensor Forward(Tensor input) =>
        throw new NotSupportedException("SpaceTime: call ForwardWindow(window), which returns a SpaceTimeOutput, or Forecast(lag)");

    /// <summary>
    /// A training window [B, L + T] (lag then horizon) to the closed-loop forecast, the open-loop lag outputs and the
    /// decoder's predicted and actual next inputs (the terms of <see cref="SpaceTimeLoss"/>). The encoder is causal,
    /// so running it over the whole window leaves the lag positions, and hence the forecast, blind to the horizon.
    /// </summary>
    public SpaceTimeOutput ForwardWindow(Tensor window)
    {
        int lag = Config.Lag, horizon = Config.Horizon;
        RequireSeries("SpaceTime.ForwardWindow", window, lag + horizon, "lag + horizon");
        var encoded = Encode(window);                                             // [B, L + T, W]
        var decoded = Decoder.Forward(encoded.Narrow(1, 0, lag), horizon);
        var nextInputs = encoded.Narrow(1, lag, horizon).Detach();
        return new SpaceTimeOutput(ReadOut(decoded.Forecast), ReadOut(decoded.OpenLoop), decoded.PredictedInputs, nextInputs);
    }

    /// <summary>The closed-loop forecast [B, horizon] from a lag window [B, L] (horizon defaults to the configured T).</summary>
    public Tensor Forecast(Tensor lagWindow, int? horizon = null)
    {
        RequireSeries("SpaceTime.Forecast", lagWindow, Config.Lag, "lag");
        return ReadOut(Decoder.Forward(Encode(lagWindow), horizon ?? Config.Horizon).Forecast);
    }

    /// <summary>
    /// The open-loop "zero-padding" forecast [B, horizon]: the lag window followed by zeros runs through the whole
    /// network without feedback, and the outputs at positions L-1..L+T-2 (each predicting the next value) are the
    /// forecast. The baseline the closed loop is compared with (SpaceTime, section 3.2).
    /// </summary>
    public Tensor ForecastZeroPadded(Tensor lagWindow, int? horizon = null)
    {
        RequireSeries("SpaceTime.ForecastZeroPadded", lagWindow, Config.Lag, "lag");
        int t = horizon ?? Config.Horizon;
        var padded = lagWindow.Pad([0, t]);
        var outputs = ReadOut(Decoder.OpenLoop(Encode(padded)));                 // [B, L + T]
        return outputs.Narrow(1, Config.Lag - 1, t);
    }

    Tensor Encode(Tensor series) => Child("encoder").Forward(Child("embedding").Forward(series.Unsqueeze(-1)));

    Tensor ReadOut(Tensor hidden) => Child("output").Forward(hidden).Squeeze(-1);

    static void RequireSeries(string op, Tensor series, int length, string what)
    {
        if (series.Rank != 2 || series.Size(1) != length)
            throw new ArgumentException($"{op}: expects series [batch, {length}] ({what}), got {Shapes.Format(series.Shape)}");
    }
}
