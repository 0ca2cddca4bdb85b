using Xunit;
using static Engine.Nn.Tests.TestSupport;

namespace Engine.Nn.Tests.Ssm;

/// <summary>The SpaceTime network, its loss and the AR(p) series it is demonstrated on.</summary>
public class SpaceTimeTests
{
    static readonly SpaceTimeConfig Small = new(Lag: 8, Horizon: 5, Width: 4, StateSize: 3);

    [Fact]
    public void Forecast_DependsOnlyOnTheLagWindow_AndMatchesTheTrainingForward()
    {
        var model = new SpaceTime(Small, new Generator(1));
        model.To(DType.Float64);
        var window = Randn64(2, 3, 13);
        var changedFuture = Tensor.Concat([window.Narrow(1, 0, 8), Randn64(3, 3, 5)], 1);
        var a = model.ForwardWindow(window);
        var b = model.ForwardWindow(changedFuture);
        Assert.Equal(new[] { 3, 5 }, a.Forecast.Shape);
        Assert.Equal(new[] { 3, 8 }, a.OpenLoop.Shape);
        Assert.Equal(new[] { 3, 5, 4 }, a.PredictedInputs.Shape);
        // Equal up to the rounding of the FFT convolutions, whose transforms mix every position.
        AssertClose(a.Forecast, b.Forecast, 1e-12, "forecast");
        AssertClose(a.OpenLoop, b.OpenLoop, 1e-12, "open loop");
        AssertClose(a.Forecast, model.Forecast(window.Narrow(1, 0, 8)), 1e-12, "Forecast(lag)");
        Assert.Equal(new[] { 3, 9 }, model.Forecast(window.Narrow(1, 0, 8), horizon: 9).Shape);
        Assert.Equal(new[] { 3, 5 }, model.ForecastZeroPadded(window.Narrow(1, 0, 8)).Shape);
    }

    [Fact]
    public void Loss_IsTheWeightedSumOfTheThreeRmses()
    {
        var model = new SpaceTime(Small, new Generator(4));
        model.To(DType.Float64);
        var window = Randn64(5, 2, 13);
        var output = model.ForwardWindow(window);
        var terms = SpaceTimeLoss.Compute(output, window, 8, 0.5, 2, 3);
        // Independent RMSEs from the arrays: forecast vs y[8..12], open loop[3..7] vs y[4..8].
        var y = window.ToDoubleArray();
        var f = output.Forecast.ToDoubleArray();
        var o = output.OpenLoop.ToDoubleArray();
        double closed = Math.Sqrt(Enumerable.Range(0, 10).Average(i => Math.Pow(f[i] - y[(i / 5) * 13 + 8 + i % 5], 2)));
        double open = Math.Sqrt(Enumerable.Range(0, 10).Average(i => Math.Pow(o[(i / 5) * 8 + 3 + i % 5] - y[(i / 5) * 13 + 4 + i % 5], 2)));
        AssertClose(closed, terms.Closed.Item(), 1e-12, "closed");
        AssertClose(open, terms.Open.Item(), 1e-12, "open");
        AssertClose(0.5 * closed + 2 * open + 3 * terms.Inputs.Item(), terms.Total.Item(), 1e-12, "total");
        Assert.Throws<ArgumentException>(() => SpaceTimeLoss.Compute(output, window.Narrow(1, 0, 12), 8));
    }

    [Fact]
    public void Gradients_OfTheLoss_MatchFiniteDifferences()
    {
        // w2 = 0: the predicted-input term's targets are held constant (no gradient), which finite differences cannot do.
        var model = new SpaceTime(Small with { EncoderBlocks = 1 }, new Generator(6));
        model.To(DType.Float64);
        var window = Randn64(7, 2, 13);
        AssertParameterGradients(model, () => SpaceTimeLoss.Compute(model.ForwardWindow(window), window, 8, 1, 0.5, 0).Total, perTensor: 6);
    }

    [Fact]
    public void Training_LowersTheClosedLoopForecastErrorOnAnArSeries()
    {
        var phi = AutoregressiveSeries.FromRoots([(0.9, 2 * Math.PI / 8)]);
        var config = new SpaceTimeConfig(Lag: 16, Horizon: 8, Width: 8, StateSize: 8, EncoderBlocks: 1);
        var model = new SpaceTime(config, new Generator(8));
        var test = AutoregressiveSeries.Sample(phi, 64, 24, new Generator(9)) * 0.3;
        double Error() { using (Autograd.Autograd.NoGrad()) return SpaceTimeLoss.Rmse(model.Forecast(test.Narrow(1, 0, 16)), test.Narrow(1, 16, 8)).Item(); }
        double before = Error();
        var data = new Generator(10);
        new Trainer(model, new Adam(model.Parameters(), 1e-2), new TrainerOptions(60, MaxGradNorm: 1.0)).Run(_ =>
        {
            var window = AutoregressiveSeries.Sample(phi, 16, 24, data) * 0.3;
            return SpaceTimeLoss.Compute(model.ForwardWindow(window), window, 16).Total;
        });
        double after = Error();
        Assert.True(after < 0.8 * before, $"forecast RMSE went from {before:F3} to {after:F3}");
    }

    [Fact]
    public void ArSeries_FromRootsGivesThePolynomialCoefficients_AndTheOracleFollowsTheRecurrence()
    {
        // (z - 0.5)(z + 0.2) = z² - 0.3 z - 0.1: φ = (0.3, 0.1). A pair r e^{±iθ}: φ = (2 r cos θ, -r²).
        AssertClose(new[] { 0.3, 0.1 }, AutoregressiveSeries.FromRoots([(0.5, 0.0), (-0.2, 0.0)]), 1e-15, "real roots");
        AssertClose(new[] { 2 * 0.9 * Math.Cos(1.0), -0.81 }, AutoregressiveSeries.FromRoots([(0.9, 1.0)]), 1e-15, "pair");
        var history = Tensor.FromArray(new double[] { 0, 1, 2 }, [1, 3]);
        AssertClose(new[] { 0.3 * 2 + 0.1 * 1, 0.3 * 0.7 + 0.1 * 2 }, AutoregressiveSeries.OracleForecast([0.3, 0.1], history, 2).ToDoubleArray(), 1e-6, "oracle");
        var (series, innovations) = AutoregressiveSeries.SampleWithInnovations([0.3, 0.1], 2, 6, new Generator(1), burnIn: 0);
        var y = series.ToDoubleArray();
        var e = innovations.ToDoubleArray();
        for (int t = 2; t < 6; t++) AssertClose(0.3 * y[t - 1] + 0.1 * y[t - 2] + e[t], y[t], 1e-5, $"y[{t}]");
        Assert.Throws<ArgumentException>(() => AutoregressiveSeries.FromRoots([(1.0, 0.0)]));
    }

    [Fact]
    public void BadConfigurationsAndShapes_AreNamed()
    {
        Assert.Contains("Lag", Assert.Throws<ArgumentException>(() => new SpaceTime(Small with { Lag = 1 })).Message);
        Assert.Contains("Horizon", Assert.Throws<ArgumentException>(() => new SpaceTime(Small with { Horizon = 0 })).Message);
        var model = new SpaceTime(Small);
        Assert.Contains("[batch, 13]", Assert.Throws<ArgumentException>(() => model.ForwardWindow(Tensor.Zeros(2, 12))).Message);
        Assert.Contains("SpaceTime.Forecast", Assert.Throws<ArgumentException>(() => model.Forecast(Tensor.Zeros(2, 7))).Message);
        Assert.Throws<NotSupportedException>(() => model.Forward(Tensor.Zeros(2, 13)));
    }
}
