using Engine.Peft.Rotation;
using Xunit;
using static Engine.Peft.Tests.Subspace.SubspaceTestSupport;
using static Engine.Peft.Tests.TestSupport;

namespace Engine.Peft.Tests.Rotation;

/// <summary>
/// RoAd: road_1 with α = 1 is a pure 2-D rotation of each output pair, so it keeps every pair's norm (the defining
/// property); the three variants match the paired rotation built by loops from θ and α (pairs i and i + g/2 of each
/// group); the merge is W ← R W, b ← R b and the unmerge solves each 2 × 2 block.
/// </summary>
public class RoadTests
{
    const int InF = 5, OutF = 12;

    static RoadLayer Road(RoadConfig config) => Layer(l => new RoadLayer(l), InF, OutF, config);

    // R [out, out] by loops from c and d of each element (c_i, d_i as PEFT's first_col, second_col).
    static double[] Matrix(double[] c, double[] d, int g)
    {
        var r = new double[OutF * OutF];
        for (int i = 0; i < OutF; i++)
        {
            bool first = i % g < g / 2;
            int partner = first ? i + g / 2 : i - g / 2;
            r[i * OutF + i] = c[i];
            r[i * OutF + partner] = first ? -d[i] : d[i];
        }
        return r;
    }

    // c and d from θ and α as the paper's variants define them, by loops.
    static (double[] C, double[] D) Coefficients(string variant, double[] theta, double[] alpha, int g)
    {
        var c = new double[OutF];
        var d = new double[OutF];
        for (int i = 0; i < OutF; i++)
        {
            int group = i / g, k = i % g;
            switch (variant)
            {
                case "road_1":
                    int p = group * (g / 2) + k % (g / 2);
                    (c[i], d[i]) = (alpha[p] * Math.Cos(theta[p]), alpha[p] * Math.Sin(theta[p]));
                    break;
                case "road_2":
                    (c[i], d[i]) = (alpha[i] * Math.Cos(theta[i]), alpha[i] * Math.Sin(theta[i]));
                    break;
                default:
                    int b = group * 2 * g;
                    (c[i], d[i]) = (alpha[b + k] * Math.Cos(theta[b + k]), alpha[b + g + k] * Math.Sin(theta[b + g + k]));
                    break;
            }
        }
        return (c, d);
    }

    [Fact]
    public void Road1WithUnitScale_KeepsTheNormOfEveryPair()
    {
        const int g = 4;
        var layer = Road(new RoadConfig { GroupSize = g, InitWeights = false });
        Set(layer.Alpha("a"), Enumerable.Repeat(1.0, OutF / 2).ToArray());
        var x = Randn64(5, 3, InF);
        var h = layer.BaseLayer.Forward(x).ToDoubleArray();
        var y = layer.Forward(x).ToDoubleArray();
        Assert.True(h.Zip(y, (a, b) => Math.Abs(a - b)).Max() > 0.1, "the rotation changed nothing");
        for (int row = 0; row < 3; row++)
            for (int i = 0; i < OutF; i++)
            {
                if (i % g >= g / 2) continue;
                int a = row * OutF + i, b = a + g / 2;
                Assert.Equal(h[a] * h[a] + h[b] * h[b], y[a] * y[a] + y[b] * y[b], 10);
            }
    }

    [Theory]
    [InlineData("road_1", 4)]
    [InlineData("road_2", 6)]
    [InlineData("road_4", 4)]
    public void Forward_IsThePairedRotationOfTheOutput_AndMergesAsRW(string variant, int g)
    {
        var layer = Road(new RoadConfig { Variant = variant, GroupSize = g, InitWeights = false });
        var (c, d) = Coefficients(variant, layer.Theta("a").ToDoubleArray(), layer.Alpha("a").ToDoubleArray(), g);
        var r = Matrix(c, d, g);
        var x = Randn64(6, 3, InF);
        var h = layer.BaseLayer.Forward(x).ToDoubleArray();
        var expected = Mul(h, Transpose(r, OutF, OutF), 3, OutF, OutF);
        AssertClose(expected, layer.Forward(x).ToDoubleArray(), 1e-12);
        AssertParameterGradients(layer, () => layer.Forward(x));

        var (w, b) = layer.Transform("a", layer.BaseLayer.Weight, layer.BaseLayer.Bias);
        AssertClose(Mul(r, layer.BaseLayer.Weight.ToDoubleArray(), OutF, OutF, InF), w.ToDoubleArray(), 1e-12, "R W");
        AssertClose(Mul(r, layer.BaseLayer.Bias!.ToDoubleArray(), OutF, OutF, 1), b!.ToDoubleArray(), 1e-12, "R b");
        var (w0, b0) = layer.InverseTransform("a", w, b);
        AssertClose(layer.BaseLayer.Weight.ToDoubleArray(), w0.ToDoubleArray(), 1e-10, "R⁻¹ R W");
        AssertClose(layer.BaseLayer.Bias!.ToDoubleArray(), b0!.ToDoubleArray(), 1e-10, "R⁻¹ R b");
    }

    [Fact]
    public void GroupSizeThatDoesNotDivideTheOutputWidth_IsRefusedNamingTheModule()
    {
        var e = Assert.Throws<ArgumentException>(() => Road(new RoadConfig { GroupSize = 8 }));
        Assert.Contains("group_size", e.Message);
        Assert.Throws<ArgumentException>(() => new RoadConfig { GroupSize = 3 }.Validate());
        Assert.Throws<ArgumentException>(() => new RoadConfig { Variant = "road_3" }.Validate());
    }
}
