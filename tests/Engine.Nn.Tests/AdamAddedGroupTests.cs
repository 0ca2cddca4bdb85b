using Xunit;

namespace Engine.Nn.Tests;

/// <summary>
/// Adam's bias correction for a group added mid-training (IncreLoRA's grown ranks): PyTorch counts each parameter's
/// steps from its first update, so the first update of a parameter that joins at step 50 is that of a fresh optimiser.
/// </summary>
public class AdamAddedGroupTests
{
    [Fact]
    public void AParameterAddedLater_GetsTheFirstUpdateOfAFreshOptimiser()
    {
        var a = Tensor.Ones(3).RequireGrad();
        var late = Tensor.FromArray(new[] { 0.5, -1.0, 2.0 }).RequireGrad();
        var optimizer = new AdamW([a], lr: 0.1, weightDecay: 0);
        for (int i = 0; i < 5; i++)
        {
            a.Grad = Tensor.Ones(3);
            optimizer.Step();
        }
        optimizer.AddParamGroup(new ParamGroup([late], 0.1, 0, "late"));
        var fresh = Tensor.FromArray(new[] { 0.5, -1.0, 2.0 }).RequireGrad();
        var reference = new AdamW([fresh], lr: 0.1, weightDecay: 0);
        for (int i = 0; i < 3; i++)
        {
            var g = Tensor.FromArray(new[] { 0.3 * (i + 1), -0.2, 1.5 / (i + 1) });
            a.Grad = Tensor.Ones(3);
            late.Grad = g;
            fresh.Grad = g.Clone();
            optimizer.Step();
            reference.Step();
            Assert.Equal(fresh.ToDoubleArray(), late.ToDoubleArray());
        }
        // The first update moved each entry by lr (Adam's first step is lr * sign(g)), not by lr / (1 - beta1^6).
        Assert.NotEqual(0.5, late.ToDoubleArray()[0]);
    }
}
