using Xunit;
using static Engine.Autograd.Tests.Assertions;

namespace Engine.Autograd.Tests;

/// <summary>How Backward, gradients and grad-mode scopes behave, PyTorch-style.</summary>
public class BackwardBehaviourTests
{
    [Fact]
    public void Grad_AccumulatesAcrossBackwardCalls_AndZeroGradClearsIt()
    {
        var x = Leaf(1, -2, 3);
        (x * x).Sum().Backward();
        (x * x).Sum().Backward();
        Close([4, -8, 12], x.Grad!);
        new[] { x }.ZeroGrad();
        Assert.Null(x.Grad);
        (x * x).Sum().Backward();
        Close([2, -4, 6], x.Grad!);
    }

    [Fact]
    public void IsGraphReleased_IsTrueOnlyAfterABackwardWithoutRetainGraphWentThroughTheOp()
    {
        var x = Leaf(1, 2, 3);
        var shared = x * 2;
        Assert.False(Autograd.IsGraphReleased(shared));
        Assert.False(Autograd.IsGraphReleased(x));
        shared.Sum().Backward(retainGraph: true);
        Assert.False(Autograd.IsGraphReleased(shared));
        shared.Sum().Backward();
        Assert.True(Autograd.IsGraphReleased(shared));
    }

    [Fact]
    public void Detach_SharesStorage_ButStopsTheGradient()
    {
        var x = Leaf(1, 2, 3);
        var d = x.Detach();
        Assert.Same(x.Storage, d.Storage);
        Assert.False(d.RequiresGrad);
        Assert.Null(d.Producer);
        (x * d).Sum().Backward();
        Close([1, 2, 3], x.Grad!); // only the attached factor is differentiated: d(x * c)/dx = c
    }

    [Fact]
    public void NoGrad_RecordsNothing_AndNestedScopesRestoreThePreviousMode()
    {
        var x = Leaf(1, 2);
        using (Autograd.NoGrad())
        {
            var y = x * 2;
            Assert.Null(y.Producer);
            Assert.False(y.RequiresGrad);
            using (Autograd.NoGrad()) Assert.False((x + 1).RequiresGrad);
            Assert.False((x + 1).RequiresGrad);
            using (Autograd.EnableGrad())
            {
                var z = x * 3;
                Assert.True(z.RequiresGrad);
                Assert.NotNull(z.Producer);
            }
            Assert.Null((x - 1).Producer);
        }
        var w = x * 2;
        Assert.True(w.RequiresGrad);
        Assert.Equal(Engine.Recording.OpKind.Mul, w.Producer!.Kind);
    }

    [Fact]
    public void SecondBackward_WithoutRetainGraph_ThrowsNamingRetainGraph()
    {
        var x = Leaf(1, 2);
        var y = (x * x).Sum();
        y.Backward();
        var e = Assert.Throws<InvalidOperationException>(() => y.Backward());
        Assert.Contains("second time", e.Message);
        Assert.Contains("retainGraph", e.Message);
    }

    [Fact]
    public void SecondBackward_WithRetainGraph_Accumulates()
    {
        var x = Leaf(1, 2);
        var y = (x * x).Sum();
        y.Backward(retainGraph: true);
        y.Backward();
        Close([4, 8], x.Grad!);
    }

    [Fact]
    public void Backward_OfNonScalar_WithExplicitGradient_GivesTheVectorJacobianProduct()
    {
        var x = Tensor.FromArray(new double[] { 1, 2, 3, 4 }, [2, 2]).RequireGrad();
        var y = x.Square() * 3;
        y.Backward(Tensor.FromArray(new double[] { 1, 0, -1, 0.5 }, [2, 2]));
        Close([6 * 1 * 1, 0, 6 * 3 * -1, 6 * 4 * 0.5], x.Grad!); // dy/dx = 6x, times the given output gradient
        Assert.Equal([2, 2], x.Grad!.Shape);
    }

    [Fact]
    public void Backward_OfNonScalar_WithoutGradient_ThrowsAskingForIt()
    {
        var x = Leaf(1, 2, 3);
        var e = Assert.Throws<InvalidOperationException>(() => (x * 2).Backward());
        Assert.Contains("[3]", e.Message);
        Assert.Contains("explicitly", e.Message);
    }

    [Fact]
    public void Backward_OfGradientShapeMismatch_ThrowsNamingBothShapes()
    {
        var x = Leaf(1, 2, 3);
        var e = Assert.Throws<ArgumentException>(() => (x * 2).Backward(Tensor.Ones([2], DType.Float64)));
        Assert.Contains("[2]", e.Message);
        Assert.Contains("[3]", e.Message);
    }

    [Fact]
    public void Backward_OfArgMaxOrComparison_SaysItIsNotDifferentiable()
    {
        var x = Leaf(1, 3, 2);
        var direct = Assert.Throws<InvalidOperationException>(() => x.ArgMax().Backward());
        Assert.Contains("ArgMax", direct.Message);
        Assert.Contains("not differentiable", direct.Message);
        // Further ops on the integer result are not recorded at all, as in PyTorch (no grad_fn).
        var chained = Assert.Throws<InvalidOperationException>(() => x.ArgMax().To(DType.Float64).Backward());
        Assert.Contains("does not require grad", chained.Message);
        var gt = Assert.Throws<InvalidOperationException>(() => x.Gt(1.5).Backward(Tensor.Ones([3], DType.Bool)));
        Assert.Contains("Gt", gt.Message);
        Assert.Contains("not differentiable", gt.Message);
    }

    [Fact]
    public void Backward_OfTensorWithoutGradientHistory_ThrowsSayingNothingRequiresGrad()
    {
        var e = Assert.Throws<InvalidOperationException>(() => Tensor.Ones([1], DType.Float64).Exp().Backward());
        Assert.Contains("does not require grad", e.Message);
    }

    [Fact]
    public void RequiresGrad_OnIntegerTensor_Throws()
    {
        var e = Assert.Throws<InvalidOperationException>(() => Tensor.FromArray(new long[] { 1, 2 }).RequiresGrad = true);
        Assert.Contains("int64", e.Message);
        Assert.Throws<InvalidOperationException>(() => Tensor.FromArray(new[] { true }).RequireGrad());
    }

    [Fact]
    public void RetainGrad_KeepsAnIntermediatesGradient_OthersStayNull()
    {
        var x = Leaf(1, -2);
        var h = (x * 3).RetainGrad();
        var other = h + 1;
        (other * h).Sum().Backward(); // d/dh (h + 1) h = 2h + 1
        Close([7, -11], h.Grad!);
        Assert.Null(other.Grad);
        Close([21, -33], x.Grad!);
    }

    [Fact]
    public void AutogradGrad_ReturnsGradientsWithoutTouchingGrad_AndZerosForUnusedInputs()
    {
        var x = Leaf(2, 3);
        var unused = Leaf(5);
        var grads = Autograd.Grad((x * x).Sum(), [x, unused]);
        Close([4, 6], grads[0]);
        Close([0], grads[1]);
        Assert.Null(x.Grad);
    }

    [Fact]
    public void Gradient_OfTensorUsedTwice_SumsBothPaths()
    {
        var x = Leaf(0.5, -1);
        (x.Sin() * x.Exp()).Sum().Backward();
        var expected = new[] { 0.5, -1 }.Select(v => Math.Cos(v) * Math.Exp(v) + Math.Sin(v) * Math.Exp(v)).ToArray();
        Close(expected, x.Grad!);
    }
}
