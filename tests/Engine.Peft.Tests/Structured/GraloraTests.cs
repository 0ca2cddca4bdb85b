using Engine.Peft.Structured;
using Engine.Peft.Tests.Lycoris;
using Xunit;
using static Engine.Peft.Tests.Structured.StructuredTestSupport;

namespace Engine.Peft.Tests.Structured;

/// <summary>
/// GraLoRA's structure (Jung et al. 2025, section 3): block (j, n) of ΔW is the product of A_n's j-th rank slice and
/// B_j's n-th, so k = 1 is plain LoRA with scale alpha / r, and the update's rank reaches k r at LoRA's parameter count.
/// </summary>
public class GraloraTests
{
    static GraloraLayer Random(int k, int r, int inF, int outF, int hybrid = 0) =>
        Layer<GraloraLayer>(l => new GraloraLayer(l), inF, outF, new GraloraConfig { R = r, GraloraK = k, HybridR = hybrid, Alpha = 3, InitWeights = false });

    // ΔW[j·ob + o, n·ib + i] = s Σ_t A[n, i, j q + t] B[j, n q + t, o], written out.
    static double[] Expected(double[] a, double[] b, int k, int r, int inF, int outF, double s)
    {
        int q = r / k, ib = inF / k, ob = outF / k;
        var delta = new double[outF * inF];
        for (int j = 0; j < k; j++)
            for (int n = 0; n < k; n++)
                for (int o = 0; o < ob; o++)
                    for (int i = 0; i < ib; i++)
                    {
                        double sum = 0;
                        for (int t = 0; t < q; t++) sum += a[(n * ib + i) * r + j * q + t] * b[(j * r + n * q + t) * ob + o];
                        delta[(j * ob + o) * inF + n * ib + i] = s * sum;
                    }
        return delta;
    }

    [Theory]
    [InlineData(1, 3)]
    [InlineData(2, 4)]
    [InlineData(3, 6)]
    public void DeltaWeight_IsTheGridOfBlockProducts(int k, int r)
    {
        var layer = Random(k, r, 12, 6);
        var expected = Expected(layer.A("a").ToDoubleArray(), layer.B("a").ToDoubleArray(), k, r, 12, 6, 3.0 / r);
        Assert.Equal(expected, layer.DeltaWeight("a").ToDoubleArray(), (x, y) => Math.Abs(x - y) < 1e-12);
    }

    [Fact]
    public void OneBlock_IsLora()
    {
        // k = 1: ΔW = (alpha / r) (A_0 B_0)ᵀ with A_0 [in, r], B_0 [r, out], LoRA's B A with B = B_0ᵀ, A = A_0ᵀ.
        var layer = Random(1, 3, 8, 5);
        var lora = (layer.B("a").Select(0, 0).T % layer.A("a").Select(0, 0).T * (3.0 / 3)).ToDoubleArray();
        Assert.Equal(lora, layer.DeltaWeight("a").ToDoubleArray(), (x, y) => Math.Abs(x - y) < 1e-12);
    }

    [Fact]
    public void UpdateRank_ExceedsR_UpToKTimesR()
    {
        // k = 2, r = 2: four blocks of rank 1 each give rank 4 = k r, twice LoRA's r at the same parameter count.
        var layer = Random(2, 2, 8, 8);
        Assert.Equal(4, LycorisTestSupport.Rank(layer.DeltaWeight("a").ToDoubleArray(), 8, 8));
        Assert.Equal(2 * (8 + 8), layer.A("a").Numel + layer.B("a").Numel);
    }

    [Fact]
    public void HybridLora_AddsBgAgUnderTheSharedScale()
    {
        var layer = Random(2, 4, 8, 6, hybrid: 2);
        var grid = Expected(layer.A("a").ToDoubleArray(), layer.B("a").ToDoubleArray(), 2, 4, 8, 6, 3.0 / 6);
        var tensors = layer.AdapterTensors("a").ToDictionary(t => t.Key, t => t.Tensor);
        var hybrid = (tensors["gralora_B_general.weight"] % tensors["gralora_A_general.weight"] * (3.0 / 6)).ToDoubleArray();
        Assert.Equal(grid.Zip(hybrid, (g, h) => g + h), layer.DeltaWeight("a").ToDoubleArray(), (x, y) => Math.Abs(x - y) < 1e-12);
    }

    [Fact]
    public void WidthsNotDivisibleByK_AreRefused()
    {
        var layer = new GraloraLayer(new Linear(9, 6));
        Assert.Throws<ArgumentException>(() => layer.AddAdapter(AdapterContext.Standalone("a", new GraloraConfig { R = 4, GraloraK = 2 })));
        Assert.Throws<ArgumentException>(() => new GraloraConfig { R = 3, GraloraK = 2 }.Validate());
    }
}
