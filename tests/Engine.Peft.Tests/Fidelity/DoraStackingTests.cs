using Engine.Peft.LowRank;
using Xunit;
using static Engine.Peft.Tests.TestSupport;

namespace Engine.Peft.Tests.Fidelity;

/// <summary>
/// Two active DoRA adapters on one layer, as PEFT's <c>DoraLinearVariant</c> with dropout the identity or in evaluation:
/// each adapter adds (g - 1) (result - b0) + g s B A x to the accumulated result, with g = m / ||W0 + s B A||_c, so the
/// second adapter's "base output" is what the first one produced, minus the bias.
/// </summary>
public class DoraStackingTests
{
    // Row norms of W0 + s B A [out].
    static double[] RowNorms(double[] w0, double[] delta, int outF, int inF) => Enumerable.Range(0, outF)
        .Select(o => Math.Sqrt(Enumerable.Range(0, inF).Sum(i => Math.Pow(w0[o * inF + i] + delta[o * inF + i], 2)))).ToArray();

    [Theory]
    [InlineData(0.0)]
    [InlineData(0.3)]   // evaluation mode: PEFT takes the same branch as for the identity
    public void SecondAdapter_ScalesTheAccumulatedResultMinusTheBias(double dropout)
    {
        var a = new LoraConfig { R = 2, LoraAlpha = 6, UseDora = true, LoraDropout = dropout, InitLoraWeights = LoraInit.Random, TargetModules = ["qkv"], Seed = 7 };
        var b = a with { R = 4, LoraAlpha = 2, Seed = 8 };
        var peft = Peft.Apply(TinyGpt(), a, "a");
        peft.AddAdapter("b", b);
        peft.SetAdapter("a", "b");
        peft.To(DType.Float64);
        Assert.False(peft.Training);
        var layer = (LoraLayer)peft.AdapterLayers().First().Layer;
        // Magnitudes away from the row norms, so g != 1 and the order of the adapters matters.
        Scramble(layer.Magnitude("a")!, 21, 1);
        Scramble(layer.Magnitude("b")!, 22, 1);

        const int inF = 8, outF = 24, n = 3;
        var x = Randn64(5, n, inF);
        var xs = x.ToDoubleArray();
        var w0 = layer.BaseLayer.Weight.ToDoubleArray();
        var bias = layer.BaseLayer.Bias!.ToDoubleArray();
        var result = NaiveMatMulT(xs, n, w0, inF, outF).Select((v, i) => v + bias[i % outF]).ToArray();
        foreach (var (name, r, s) in new[] { ("a", 2, 6.0 / 2), ("b", 4, 2.0 / 4) })
        {
            var ba = NaiveProduct(layer.LoraB(name).ToDoubleArray(), layer.LoraA(name).ToDoubleArray(), outF, r, inF);
            var delta = ba.Select(v => s * v).ToArray();
            var norm = RowNorms(w0, delta, outF, inF);
            var m = layer.Magnitude(name)!.ToDoubleArray();
            var lora = NaiveMatMulT(xs, n, delta, inF, outF);
            var previous = result;
            result = previous.Select((v, i) =>
            {
                double g = m[i % outF] / norm[i % outF];
                return v + (g - 1) * (v - bias[i % outF]) + g * lora[i];
            }).ToArray();
        }
        AssertClose(result, layer.Forward(x).ToDoubleArray(), 1e-10);
    }
}
