using Xunit;

namespace Engine.Nn.Tests;

public class EndToEndTests
{
    [Fact]
    public void TwoLayerGpt_OverfitsARepeatedShortSequence()
    {
        // "abcdefg" repeated: each token determines the next, so the loss can approach zero.
        var ids = Enumerable.Range(0, 17).Select(i => (long)(1 + i % 7)).ToArray();
        var x = Tensor.FromArray(ids[..16], [1, 16]);
        var y = Tensor.FromArray(ids[1..], [1, 16]);
        var gpt = new Gpt(new GptConfig(8, 16, 32, 2, 2, MlpRatio: 2), new Generator(7));
        var opt = new AdamW(gpt.Parameters(), lr: 1e-2, weightDecay: 0);
        double first = 0, last = 0;
        for (int step = 0; step < 80; step++)
        {
            opt.ZeroGrad();
            var loss = Losses.CrossEntropy(gpt.Forward(x), y);
            if (step == 0) first = loss.Item();
            last = loss.Item();
            Autograd.Autograd.Backward(loss);
            GradClip.ClipGradNorm(gpt.Parameters(), 1.0);
            opt.Step();
        }
        Assert.InRange(first, Math.Log(8) - 0.5, Math.Log(8) + 0.5); // starts near uniform
        Assert.True(last < 0.1, $"loss after 80 steps is {last}");
    }
}
