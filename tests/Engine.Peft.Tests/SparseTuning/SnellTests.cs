using Engine.Peft.SparseTuning;
using Xunit;
using static Engine.Peft.Tests.TestSupport;
using Approx = Engine.Tests.Shared.Approx;

namespace Engine.Peft.Tests.SparseTuning;

/// <summary>
/// SNELL (spec adapters-other.md §7): the kernel against a naive double loop, the quantile against torch.quantile's
/// values, about (1 − τ) in out kept entries as signed squares, a kernel rank above q, and the reference's gradient
/// (the magnitudes and the threshold detached).
/// </summary>
public class SnellTests
{
    static SnellLayer Layer(SnellConfig config, int inF = 12, int outF = 9) =>
        StandaloneLayer(l => new SnellLayer(l), inF, outF, config with { SnellDropout = 0 });

    static double[] Out(Module layer, Tensor x)
    {
        using (Autograd.Autograd.NoGrad()) return layer.Forward(x).ToDoubleArray();
    }

    // Σ_h c_h ‖U^h_i − V^h_o‖₂ by loops, [out, in] row-major.
    static double[] NaiveKernel(SnellLayer layer, SnellConfig c)
    {
        var u = layer.InQs("a").ToDoubleArray();
        var v = layer.OutQs("a").ToDoubleArray();
        int inF = layer.InFeatures, outF = layer.OutFeatures, d = c.LowRankDim / c.NumHs;
        var k = new double[outF * inF];
        for (int o = 0; o < outF; o++)
            for (int i = 0; i < inF; i++)
                for (int h = 0; h < c.NumHs; h++)
                {
                    double s = 0;
                    for (int j = 0; j < d; j++)
                    {
                        double diff = u[(h * inF + i) * d + j] - v[(h * outF + o) * d + j];
                        s += diff * diff;
                    }
                    k[o * inF + i] += (h % 2 == 0 ? 0.1 : -0.1) * Math.Sqrt(s);
                }
        return k;
    }

    [Fact]
    public void TauZero_GivesTheDenseKernel_OfANaiveDoubleLoop()
    {
        var c = new SnellConfig { LowRankDim = 6, NumHs = 3, InitThres = 0 };
        var layer = Layer(c);
        var kernel = NaiveKernel(layer, c);
        Approx.AssertClose(kernel, layer.DeltaWeight("a").ToDoubleArray(), 1e-12);
        Assert.All(kernel, v => Assert.NotEqual(0, v));
        var x = Randn64(2, 3, 12);
        var w = layer.BaseLayer.Weight.ToDoubleArray();
        var bias = layer.BaseLayer.Bias!.ToDoubleArray();
        var expected = NaiveMatMulT(x.ToDoubleArray(), 3, w.Select((v, i) => v + kernel[i]).ToArray(), 12, 9).Select((v, i) => v + bias[i % 9]).ToArray();
        Approx.AssertClose(expected, Out(layer, x), 1e-12);
        AssertParameterGradients(layer, () => layer.Forward(x));
    }

    [Fact]
    public void Quantile_IsTorchQuantilesLinearInterpolation_InTheTensorsDtype()
    {
        // torch.quantile(torch.tensor([((i*37)%101)/7 for i in range(53)], dtype=torch.float32), q) in torch 1.13.
        var values = Enumerable.Range(0, 53).Select(i => (float)((i * 37 % 101) / 7.0)).ToArray();
        Assert.Equal(0f, TorchQuantile.Linear(values, 0));
        Assert.Equal(BitConverter.UInt32BitsToSingle(0x40930464), TorchQuantile.Linear(values, 0.33));
        Assert.Equal(7f, TorchQuantile.Linear(values, 0.5));
        Assert.Equal(BitConverter.UInt32BitsToSingle(0x414c57c5), TorchQuantile.Linear(values, 0.9));
        Assert.Equal(BitConverter.UInt32BitsToSingle(0x415c6f2e), TorchQuantile.Linear(values, 0.97));
        Assert.Equal(BitConverter.UInt32BitsToSingle(0x41649249), TorchQuantile.Linear(values, 1));
        // In Float64 the 0.9-quantile differs from the Float32 one (torch: 12.771428298950196).
        Assert.Equal(12.771428298950196, TorchQuantile.Linear(values.Select(v => (double)v).ToArray(), 0.9), 1e-14);
        Assert.Throws<ArgumentException>(() => TorchQuantile.Linear(values, 1.5));
    }

    [Theory]
    [InlineData(0.9, 24, 20)]
    [InlineData(0.5, 12, 9)]
    [InlineData(0.75, 7, 13)]
    public void Sparsification_KeepsTheLargestAbout1MinusTauEntries_AsSignedSquares(double tau, int inF, int outF)
    {
        var c = new SnellConfig { LowRankDim = 4, InitThres = tau };
        var layer = Layer(c, inF, outF);
        var kernel = NaiveKernel(layer, c);
        var delta = layer.DeltaWeight("a").ToDoubleArray();
        int n = inF * outF;
        // With distinct magnitudes (random factors), t lies in [v_b, v_b+1] of the sorted |ΔW| with b = floor(τ (n − 1)),
        // and exactly the n − 1 − b entries above v_b survive: within one entry of (1 − τ) n.
        int b = (int)Math.Floor(tau * (n - 1));
        var kept = Enumerable.Range(0, n).OrderByDescending(i => Math.Abs(kernel[i])).Take(n - 1 - b).ToHashSet();
        Assert.True(Math.Abs(kept.Count - (1 - tau) * n) <= 1, $"{kept.Count} kept of {n} at τ = {tau}");
        for (int i = 0; i < n; i++)
            Assert.Equal(kept.Contains(i) ? kernel[i] * Math.Abs(kernel[i]) : 0, delta[i], 1e-14);
        Assert.Equal(kept.Count, delta.Count(v => v != 0));
    }

    [Fact]
    public void KernelRank_ExceedsQ()
    {
        // q = 2 (one coordinate per kernel): B A of LoRA would have rank ≤ 2; the distance kernel is generically full rank.
        var layer = Layer(new SnellConfig { LowRankDim = 2, InitThres = 0 }, 16, 16);
        var (_, s, _) = Linalg.Svd(layer.DeltaWeight("a").Detach());
        var singular = s.ToDoubleArray();
        int rank = singular.Count(v => v > 1e-10 * singular[0]);
        Assert.True(rank > 2, $"rank {rank}");
    }

    [Fact]
    public void Gradient_IsTheReferences_MagnitudesAndThresholdDetached()
    {
        // Away from ties: the random factors give distinct magnitudes, and the mask does not move under the check's steps.
        var c = new SnellConfig { LowRankDim = 4, InitThres = 0.6 };
        var layer = Layer(c);
        var x = Randn64(4, 3, 12);
        var loss = (layer.Forward(x) * Randn64(5, 3, 9)).Sum();
        Autograd.Autograd.Backward(loss);
        var gu = layer.InQs("a").Grad!.ToDoubleArray();
        var gv = layer.OutQs("a").Grad!.ToDoubleArray();

        // The surrogate ΔW(U, V) ⊙ C with C = |ΔW| 1[|ΔW| > t] frozen at the current factors: its exact gradient
        // (checked against central differences) is the reference's.
        Tensor frozen;
        using (Autograd.Autograd.NoGrad())
        {
            var k = layer.Kernel("a");
            frozen = SnellLayer.Sparsify(k, c.InitThres) / Tensor.Where(k.Abs() > 0, k, 1.0);
        }
        Tensor Surrogate() => layer.BaseLayer.Forward(x) + x.MatMul((SnellLayer.Kernel(layer.InQs("a"), layer.OutQs("a"), c) * frozen).T);
        layer.InQs("a").Grad = null;
        layer.OutQs("a").Grad = null;
        Autograd.Autograd.Backward((Surrogate() * Randn64(5, 3, 9)).Sum());
        Approx.AssertClose(layer.InQs("a").Grad!.ToDoubleArray(), gu, 1e-12);
        Approx.AssertClose(layer.OutQs("a").Grad!.ToDoubleArray(), gv, 1e-12);
        AssertParameterGradients(layer, Surrogate);
        // The full derivative of ΔW |ΔW| would be twice as large on kept entries: the check can tell them apart.
        Assert.Contains(gu, g => Math.Abs(g) > 1e-6);
    }

    [Fact]
    public void Merge_AddsTheSparsifiedKernel_AndTheTrainableCountIsQTimesInPlusOut()
    {
        var c = new SnellConfig { LowRankDim = 4, InitThres = 0.8 };
        var layer = Layer(c);
        var w0 = layer.BaseLayer.Weight.ToDoubleArray();
        var delta = layer.DeltaWeight("a").ToDoubleArray();
        var x = Randn64(6, 2, 12);
        var before = Out(layer, x);
        layer.Merge();
        Approx.AssertClose(w0.Select((v, i) => v + delta[i]).ToArray(), layer.BaseLayer.Weight.ToDoubleArray(), 1e-14);
        Approx.AssertClose(before, Out(layer, x), 1e-12);
        layer.Unmerge();
        Approx.AssertClose(w0, layer.BaseLayer.Weight.ToDoubleArray(), 1e-14);
        Assert.Equal(4 * (12 + 9), layer.AdapterTensors("a").Where(t => t.Trainable).Sum(t => t.Tensor.Numel));
    }

    [Fact]
    public void Config_RejectsBadFields()
    {
        Assert.Throws<ArgumentException>(() => new SnellConfig { LowRankDim = 5 }.Validate());
        Assert.Throws<ArgumentException>(() => new SnellConfig { InitThres = 1 }.Validate());
        Assert.Throws<ArgumentException>(() => new SnellConfig { NormP = 1 }.Validate());
        Assert.Throws<ArgumentException>(() => new SnellConfig { NumHs = 0 }.Validate());
    }
}
