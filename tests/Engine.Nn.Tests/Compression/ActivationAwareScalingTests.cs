using Engine.Nn.Compression;
using Xunit;

namespace Engine.Nn.Tests.Compression;

/// <summary>
/// Activation-aware scaling (spec adapters-other.md §17): the scale is the mean over sequences of each channel's L2
/// norm over tokens plus 1e-3 (a hand example), folding it into the previous op leaves the model's outputs unchanged,
/// and the first block's qkv columns grow by exactly the scales of its measured input (recomputed here from ln1).
/// </summary>
public class ActivationAwareScalingTests
{
    [Fact]
    public void Scales_HandExample()
    {
        // Sequence 0: channel 0 tokens (3, 4) → 5, channel 1 (0, 1) → 1; sequence 1: (0, 0) → 0, (6, 8) → 10.
        var x = Tensor.FromArray(new[] { 3f, 0, 4, 1, 0, 6, 0, 8 }, [2, 2, 2]);
        AssertClose(new[] { 2.5 + 1e-3, 5.5 + 1e-3 }, ActivationAwareScaling.Scales([x]), 1e-6);
    }

    [Fact]
    public void Apply_KeepsTheOutputs_AndScalesQkvColumnsByTheMeasuredNorms()
    {
        var model = (Gpt)new Gpt(new GptConfig(11, 8, 16, 2, 2), new Generator(1)).Eval();
        TestSupport.ScrambleAll(model, 2);
        var ids = Tensor.FromArray(new long[] { 1, 4, 2, 9, 3, 0, 7, 5, 5, 1 }, [2, 5]);
        Tensor before, ln1;
        using (Autograd.Autograd.NoGrad())
        {
            before = model.Forward(ids);
            ln1 = model.Blocks[0].Ln1.Forward(model.Tok.Forward(ids) + model.Pos!.Forward(Tensor.FromArray(new long[] { 0, 1, 2, 3, 4 }, [5])));
        }
        var qkv = model.Blocks[0].Attn.Qkv.Weight.ToDoubleArray();
        var scaled = ActivationAwareScaling.Apply(model, [ids]);
        Assert.Equal(new[] { "0.qkv", "0.o", "0.fc", "1.qkv", "1.o", "1.fc" }, scaled);
        using (Autograd.Autograd.NoGrad()) AssertClose(before, model.Forward(ids), 2e-4);

        // s_c = mean over the two sequences of sqrt(Σ_t ln1[b, t, c]²) + 1e-3, from the unscaled model's ln1.
        var a = ln1.ToDoubleArray();
        var s = new double[16];
        for (int c = 0; c < 16; c++)
        {
            for (int b = 0; b < 2; b++) s[c] += Math.Sqrt(Enumerable.Range(0, 5).Sum(t => a[(b * 5 + t) * 16 + c] * a[(b * 5 + t) * 16 + c])) / 2;
            s[c] += 1e-3;
        }
        var after = model.Blocks[0].Attn.Qkv.Weight.ToDoubleArray();
        // The q and k rows (0..31); the value rows are also divided by the o scales.
        for (int r = 0; r < 32; r++)
            for (int c = 0; c < 16; c++)
                Assert.True(Math.Abs(after[r * 16 + c] - qkv[r * 16 + c] * s[c]) <= 1e-4 * (1 + Math.Abs(qkv[r * 16 + c] * s[c])), $"qkv[{r}, {c}]");
    }
}
