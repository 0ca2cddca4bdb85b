using Engine.Peft.Structured;
using Engine.Peft.Tests.Lycoris;
using Xunit;
using static Engine.Peft.Tests.Structured.StructuredTestSupport;

namespace Engine.Peft.Tests.Structured;

/// <summary>
/// DeLoRA's stated property (Bini et al. 2025, section 3): each of the r terms of ΔW = Σ_i (λ / r) b_i a_iᵀ / (‖a_i‖
/// ‖b_i‖) diag(w) has unit-norm factors, so ‖ΔW‖_F ≤ |λ| max_j ‖W_:j‖ whatever A and B are, and the update does not
/// depend on their scale (the strength is decoupled into λ).
/// </summary>
public class DeloraTests
{
    static DeloraLayer Layer(int r, double lambda, ulong seed = 3) =>
        Layer<DeloraLayer>(l => new DeloraLayer(l), 12, 10, new DeloraConfig { R = r, DeloraLambda = lambda, InitWeights = false }, seed);

    // ΔW[o, j] = Σ_i (λ / r) B[o, i] A[i, j] w[j] / (‖A_i‖ ‖B_:i‖), written out.
    static double[] Expected(double[] a, double[] b, double lambda, double[] w, int r, int inF, int outF)
    {
        var delta = new double[outF * inF];
        for (int i = 0; i < r; i++)
        {
            double an = Math.Max(Math.Sqrt(Enumerable.Range(0, inF).Sum(j => a[i * inF + j] * a[i * inF + j])), 1e-4);
            double bn = Math.Max(Math.Sqrt(Enumerable.Range(0, outF).Sum(o => b[o * r + i] * b[o * r + i])), 1e-4);
            for (int o = 0; o < outF; o++)
                for (int j = 0; j < inF; j++) delta[o * inF + j] += lambda / r * b[o * r + i] * a[i * inF + j] * w[j] / (an * bn);
        }
        return delta;
    }

    [Theory]
    [InlineData(1UL)]
    [InlineData(2UL)]
    [InlineData(3UL)]
    public void UpdateNorm_IsBoundedByLambdaTimesTheLargestColumnNorm(ulong seed)
    {
        const int r = 3;
        const double lambda = 2.5; // exact in Float32, where the layer creates λ
        var layer = Layer(r, lambda, seed);
        // Rows of A and columns of B at scales from 1e-2 to 1e3: the bound must not care.
        var a = Random(r * 12, seed + 10).Select((v, i) => v * Math.Pow(10, i / 12 - 1.0)).ToArray();
        var b = Random(10 * r, seed + 20).Select((v, i) => v * Math.Pow(10, 3 - i % r)).ToArray();
        LycorisTestSupport.Set(layer.A("a"), a);
        LycorisTestSupport.Set(layer.B("a"), b);

        var weight = layer.BaseLayer.Weight.ToDoubleArray();
        var w = Enumerable.Range(0, 12).Select(j => Math.Sqrt(Enumerable.Range(0, 10).Sum(o => weight[o * 12 + j] * weight[o * 12 + j]))).ToArray();
        Assert.Equal(w, layer.WeightNorm("a").ToDoubleArray(), (x, y) => Math.Abs(x - y) < 1e-6);

        var delta = layer.DeltaWeight("a").ToDoubleArray();
        var expected = Expected(a, b, lambda, layer.WeightNorm("a").ToDoubleArray(), r, 12, 10);
        Assert.Equal(expected, delta, (x, y) => Math.Abs(x - y) < 1e-10);
        Assert.True(Frobenius(delta) <= lambda * w.Max() * (1 + 1e-12), $"|dW| = {Frobenius(delta)} > lambda max|W_:j| = {lambda * w.Max()}");

        // Scaling A and B changes nothing: the strength is λ alone.
        LycorisTestSupport.Set(layer.A("a"), a.Select(v => v * 1000).ToArray());
        LycorisTestSupport.Set(layer.B("a"), b.Select(v => v * 1e-3).ToArray());
        Assert.Equal(delta, layer.DeltaWeight("a").ToDoubleArray(), (x, y) => Math.Abs(x - y) < 1e-10 * (1 + Math.Abs(x)));
    }

    [Fact]
    public void RankOneUpdate_OnTheLargestColumn_ReachesTheBound()
    {
        const double lambda = 1.5;
        var layer = Layer(1, lambda);
        var w = layer.WeightNorm("a").ToDoubleArray();
        int jmax = Array.IndexOf(w, w.Max());
        var a = new double[12];
        a[jmax] = 0.3;
        LycorisTestSupport.Set(layer.A("a"), a);
        LycorisTestSupport.Set(layer.B("a"), Random(10, 9));
        Assert.Equal(lambda * w.Max(), Frobenius(layer.DeltaWeight("a").ToDoubleArray()), 10);
    }

    [Fact]
    public void NewAdapter_StartsAtZeroWithLambdaAndTheColumnNorms()
    {
        var layer = Layer<DeloraLayer>(l => new DeloraLayer(l), 12, 10, new DeloraConfig { R = 4, DeloraLambda = 7 });
        Assert.All(layer.DeltaWeight("a").ToDoubleArray(), v => Assert.Equal(0, v));
        Assert.Equal([7.0], layer.Lambda("a").ToDoubleArray());
        Assert.Equal([4, 12], layer.A("a").Shape);
        // Kaiming-uniform with a = sqrt 5 on [r, in]: |A| <= 1 / sqrt(in).
        Assert.All(layer.A("a").ToDoubleArray(), v => Assert.True(Math.Abs(v) <= 1 / Math.Sqrt(12)));
    }
}
