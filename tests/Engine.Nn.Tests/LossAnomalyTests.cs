using Engine.Autograd;
using Xunit;

namespace Engine.Nn.Tests;

/// <summary>Anomaly mode names a loss by its public name, not by the primitive inside it that first saw the NaN.</summary>
public class LossAnomalyTests
{
    [Fact]
    public void CrossEntropy_WithNaNLogits_IsNamedCrossEntropy_NotItsInternalReshape()
    {
        var logits = Tensor.FromArray(new float[,] { { 1, float.NaN, 0 }, { 0, 1, 2 } }).RequireGrad();
        var targets = Tensor.FromArray(new long[] { 0, 2 });
        using (AnomalyMode.Enable())
        {
            var e = Assert.Throws<ArithmeticException>(() => Losses.CrossEntropy(logits, targets));
            Assert.StartsWith("Anomaly: the forward of CrossEntropy (in its LogSoftmax step) produced NaN from input 0, which already held NaN", e.Message);
        }
    }

    [Fact]
    public void CrossEntropy_WithFiniteLogits_PassesUnderAnomalyMode()
    {
        var logits = Tensor.FromArray(new float[,] { { 1, -1e30f, 0 }, { 0, 1, 2 } }).RequireGrad();
        using (AnomalyMode.Enable())
            Losses.CrossEntropy(logits, Tensor.FromArray(new long[] { 0, 2 })).Backward();
        Assert.NotNull(logits.Grad);
    }
}
