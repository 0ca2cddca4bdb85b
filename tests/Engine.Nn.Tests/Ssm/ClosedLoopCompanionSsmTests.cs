using Xunit;
using static Engine.Nn.Tests.TestSupport;
using static Engine.Nn.Tests.Ssm.CompanionReference;

namespace Engine.Nn.Tests.Ssm;

/// <summary>The closed-loop companion decoder against the step-by-step recurrence, the k = 0 case, gradients and errors.</summary>
public class ClosedLoopCompanionSsmTests
{
    const int H = 3, D = 5, Lag = 12, Horizon = 17;

    static ClosedLoopCompanionSsm Decoder(ulong seed, bool zeroK = false)
    {
        var decoder = new ClosedLoopCompanionSsm(H, D, generator: new Generator(seed));
        decoder.To(DType.Float64);
        using (Autograd.Autograd.NoGrad())
            decoder.K.CopyFrom(zeroK ? decoder.K.ZerosLike() : Randn64(seed + 1, H, D) * 0.2);
        return decoder;
    }

    // Per (batch, channel): x ← A x + b u_t over the lag, then x ← A x + b (kᵀ x) over the horizon, reading
    // y = cᵀ x and û = kᵀ x before each closed-loop step.
    static (double[] Forecast, double[] Predicted, double[] OpenLoop) StepByStep(ClosedLoopCompanionSsm decoder, Tensor u, int horizon)
    {
        int batch = u.Size(0), lag = u.Size(1);
        var uv = u.ToDoubleArray();
        var a = decoder.EffectiveA.ToDoubleArray();
        var b = decoder.B.ToDoubleArray();
        var c = decoder.C.ToDoubleArray();
        var k = decoder.K.ToDoubleArray();
        var forecast = new double[batch * horizon * H];
        var predicted = new double[batch * horizon * H];
        var openLoop = new double[batch * lag * H];
        for (int n = 0; n < batch; n++)
            for (int h = 0; h < H; h++)
            {
                var m = Matrix(Row(a, h, D));
                double[] bh = Row(b, h, D), ch = Row(c, h, D), kh = Row(k, h, D);
                var x = new double[D];
                for (int t = 0; t < lag; t++)
                {
                    double input = uv[(n * lag + t) * H + h];
                    x = Apply(m, x).Zip(bh, (p, q) => p + q * input).ToArray();
                    openLoop[(n * lag + t) * H + h] = Dot(ch, x);
                }
                for (int i = 0; i < horizon; i++)
                {
                    forecast[(n * horizon + i) * H + h] = Dot(ch, x);
                    double fed = Dot(kh, x);
                    predicted[(n * horizon + i) * H + h] = fed;
                    x = Apply(m, x).Zip(bh, (p, q) => p + q * fed).ToArray();
                }
            }
        return (forecast, predicted, openLoop);
    }

    [Fact]
    public void ClosedLoopKrylov_EqualsTheStepByStepRecurrence()
    {
        var decoder = Decoder(1);
        var u = Randn64(2, 2, Lag, H);
        var result = decoder.Forward(u, Horizon);
        Assert.Equal(new[] { 2, Horizon, H }, result.Forecast.Shape);
        Assert.Equal(new[] { 2, Horizon, H }, result.PredictedInputs.Shape);
        Assert.Equal(new[] { 2, Lag, H }, result.OpenLoop.Shape);
        Assert.Equal(new[] { 2, H, D }, result.LastLagState.Shape);
        var (forecast, predicted, openLoop) = StepByStep(decoder, u, Horizon);
        AssertClose(forecast, result.Forecast.ToDoubleArray(), 1e-5, "y");
        AssertClose(predicted, result.PredictedInputs.ToDoubleArray(), 1e-5, "û");
        AssertClose(openLoop, result.OpenLoop.ToDoubleArray(), 1e-5, "open loop");
        // The tight bound the double-precision computation meets.
        AssertClose(forecast, result.Forecast.ToDoubleArray(), 1e-10, "y (Float64)");
    }

    [Fact]
    public void ClosedLoopKrylov_EqualsTheRecurrenceInFloat32()
    {
        var decoder = Decoder(3);
        decoder.To(DType.Float32);
        var u = Randn(4, 2, Lag, H);
        var (forecast, _, _) = StepByStep(decoder, u, Horizon);
        var actual = decoder.Forward(u, Horizon).Forecast;
        Assert.Equal(DType.Float32, actual.DType);
        double worst = forecast.Zip(actual.ToDoubleArray(), (p, q) => Math.Abs(p - q)).Max();
        Assert.True(worst < 1e-5, $"max |Krylov - recurrence| = {worst:G4}");
    }

    [Fact]
    public void WithZeroK_TheForecastIsCTimesAToTheITimesTheLastLagState()
    {
        var decoder = Decoder(5, zeroK: true);
        var u = Randn64(6, 1, Lag, H);
        var result = decoder.Forward(u, Horizon);
        var uv = u.ToDoubleArray();
        var a = decoder.EffectiveA.ToDoubleArray();
        var b = decoder.B.ToDoubleArray();
        var c = decoder.C.ToDoubleArray();
        var expected = new double[Horizon * H];
        var lastState = new double[H * D];
        for (int h = 0; h < H; h++)
        {
            // x_L = Σ_j A^{L-1-j} b u_j, then y_i = cᵀ A^i x_L.
            var m = Matrix(Row(a, h, D));
            var x = new double[D];
            for (int j = 0; j < Lag; j++)
            {
                var term = Row(b, h, D).Select(v => v * uv[j * H + h]).ToArray();
                for (int p = 0; p < Lag - 1 - j; p++) term = Apply(m, term);
                x = x.Zip(term, (p, q) => p + q).ToArray();
            }
            Array.Copy(x, 0, lastState, h * D, D);
            for (int i = 0; i < Horizon; i++)
            {
                expected[i * H + h] = Dot(Row(c, h, D), x);
                x = Apply(m, x);
            }
        }
        AssertClose(lastState, result.LastLagState.ToDoubleArray(), 1e-10, "x_L");
        AssertClose(expected, result.Forecast.ToDoubleArray(), 1e-10, "y");
        Assert.All(result.PredictedInputs.ToDoubleArray(), v => Assert.Equal(0, v));
    }

    [Fact]
    public void FirstForecast_IsTheLastOpenLoopOutput()
    {
        var decoder = Decoder(7);
        var u = Randn64(8, 2, Lag, H);
        var result = decoder.Forward(u, 3);
        AssertClose(result.OpenLoop.Select(1, Lag - 1), result.Forecast.Select(1, 0), 1e-10, "cᵀ x_L");
    }

    [Fact]
    public void Gradients_OfABCK_MatchFiniteDifferences()
    {
        var decoder = Decoder(9);
        var u = Randn64(10, 2, 6, H);
        var wy = Randn64(11, 2, 5, H);
        var wu = Randn64(12, 2, 5, H);
        var wo = Randn64(13, 2, 6, H);
        AssertParameterGradients(decoder, () =>
        {
            var r = decoder.Forward(u, 5);
            return (r.Forecast * wy).Sum() + (r.PredictedInputs * wu).Sum() + (r.OpenLoop * wo).Sum();
        }, perTensor: 64);
    }

    [Fact]
    public void BadInputs_NameTheLayerAndTheShape()
    {
        var decoder = new ClosedLoopCompanionSsm(4, 8);
        var e = Assert.Throws<ArgumentException>(() => decoder.Forward(Tensor.Zeros(2, 10, 3), 5));
        Assert.Contains("ClosedLoopCompanionSsm", e.Message);
        Assert.Contains("[2,10,3]", e.Message);
        Assert.Contains("horizon", Assert.Throws<ArgumentException>(() => decoder.Forward(Tensor.Zeros(2, 10, 4), 0)).Message);
        Assert.Throws<NotSupportedException>(() => decoder.Forward(Tensor.Zeros(2, 10, 4)));
        Assert.Throws<ArgumentException>(() => new ClosedLoopCompanionSsm(4, 0));
    }
}
