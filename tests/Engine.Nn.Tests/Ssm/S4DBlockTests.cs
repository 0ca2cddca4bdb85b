using Xunit;
using static Engine.Nn.Tests.TestSupport;

namespace Engine.Nn.Tests.Ssm;

/// <summary>The S4D token mixer and residual block: structure, gradients, step mode, and the SSM optimiser groups.</summary>
public class S4DBlockTests
{
    static T Float64<T>(T module, ulong seed) where T : Module
    {
        // Scramble the projections and norms only: the SSM parameters keep their (stable) initialisation.
        ulong s = seed;
        foreach (var (name, p) in module.NamedParameters())
            if (!name.Contains("ssm.")) Scramble(p, s++, 0.5);
        module.To(DType.Float64);
        return module;
    }

    static double Gelu(double v) => 0.5 * v * (1 + Erf(v / Math.Sqrt(2)));

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Layer_IsS4DThenGeluThenTheOutputProjection(bool glu)
    {
        var layer = Float64(new S4DLayer(3, 4, glu: glu, generator: new Generator(1)), 2);
        var x = Randn64(3, 2, 5, 3);
        var s = layer.Ssm.Forward(x).ToDoubleArray().Select(Gelu).ToArray();
        int outF = glu ? 6 : 3;
        var z = NaiveLinear(s, 10, layer.Output.Weight.ToDoubleArray(), layer.Output.Bias!.ToDoubleArray(), 3, outF);
        var expected = glu
            ? Enumerable.Range(0, 30).Select(i => z[i / 3 * 6 + i % 3] / (1 + Math.Exp(-z[i / 3 * 6 + 3 + i % 3]))).ToArray()
            : z;
        AssertClose(expected, layer.Forward(x).ToDoubleArray(), 1e-10, "y");
    }

    [Fact]
    public void Block_PreNormAddsTheLayerOfTheNormalisedInput_PostNormNormalisesTheSum()
    {
        var pre = Float64(new S4DBlock(4, 4, generator: new Generator(5)), 6);
        var x = Randn64(7, 2, 6, 4);
        AssertClose(x + pre.Layer.Forward(pre.Norm.Forward(x)), pre.Forward(x), 1e-12, "pre-norm");
        var post = Float64(new S4DBlock(4, 4, preNorm: false, generator: new Generator(5)), 6);
        AssertClose(post.Norm.Forward(x + post.Layer.Forward(x)), post.Forward(x), 1e-12, "post-norm");
    }

    [Fact]
    public void Block_ParameterNames()
    {
        var names = new S4DBlock(4, 8).StateDict().Keys.ToArray();
        Assert.Equal(new[]
        {
            "norm.weight", "norm.bias", "layer.ssm.log_dt", "layer.ssm.log_A_real", "layer.ssm.A_imag", "layer.ssm.C",
            "layer.ssm.D", "layer.output.weight", "layer.output.bias",
        }, names);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Block_GradientsMatchFiniteDifferences(bool preNorm)
    {
        var block = Float64(new S4DBlock(3, 4, S4DInit.Inv, preNorm: preNorm, generator: new Generator(9)), 10);
        var x = Randn64(11, 2, 5, 3);
        AssertInputGradients(xs => block.Forward(xs[0]), x);
        AssertParameterGradients(block, () => block.Forward(x));
    }

    [Fact]
    public void Block_StepModeEqualsConvolutionMode()
    {
        var block = new S4DBlock(4, 8, generator: new Generator(13));
        block.Eval();
        var x = Randn(14, 2, 64, 4);
        var state = new S4DState();
        var steps = Enumerable.Range(0, 64).Select(t => block.Forward(x.Narrow(1, t, 1), state)).ToArray();
        AssertClose(block.Forward(x), Tensor.Concat(steps, 1), 1e-5, "y");
    }

    [Fact]
    public void Layer_IgnoresLeftPadding()
    {
        var layer = new S4DLayer(3, 4, generator: new Generator(15));
        var x = Randn(16, 1, 5, 3);
        var padded = Tensor.Concat([Randn(17, 1, 2, 3), x], 1);
        var mask = Tensor.FromArray(new bool[,] { { true, true, false, false, false, false, false } });
        AssertClose(layer.Forward(x), layer.Forward(padded, mask, null).Narrow(1, 2, 5), 1e-5, "y");
    }

    [Fact]
    public void ParamGroups_PutTheDynamicsInTheirOwnGroupWithASmallerRateAndNoDecay()
    {
        var model = new Sequential(new S4DBlock(4, 8), new S4DBlock(4, 8), new Linear(4, 2));
        var groups = SsmParamGroups.Build(model, lr: 3e-3, weightDecay: 0.1);
        Assert.Equal(2, groups.Count);
        var rest = groups.Single(g => g.Name == SsmParamGroups.DefaultGroupName);
        var ssm = groups.Single(g => g.Name == SsmParamGroups.SsmGroupName);
        Assert.Equal((3e-3, 0.1), (rest.Lr, rest.WeightDecay));
        Assert.Equal((1e-3, 0.0), (ssm.Lr, ssm.WeightDecay));

        var byName = model.NamedParameters().ToDictionary(p => p.Parameter, p => p.Name, ReferenceEqualityComparer.Instance);
        var ssmNames = ssm.Parameters.Select(p => byName[p]).OrderBy(n => n).ToArray();
        Assert.Equal(new[]
        {
            "0.layer.ssm.A_imag", "0.layer.ssm.log_A_real", "0.layer.ssm.log_dt",
            "1.layer.ssm.A_imag", "1.layer.ssm.log_A_real", "1.layer.ssm.log_dt",
        }, ssmNames);
        Assert.Equal(model.Parameters().Count(), rest.Parameters.Count + ssm.Parameters.Count);
        Assert.Contains("0.layer.ssm.C", rest.Parameters.Select(p => byName[p]));
        Assert.Contains("1.layer.ssm.D", rest.Parameters.Select(p => byName[p]));

        Assert.Equal(5e-4, SsmParamGroups.Build(model, lr: 5e-4).Single(g => g.Name == "ssm").Lr);
        Assert.Single(SsmParamGroups.Build(new Linear(2, 2), lr: 1e-3));
    }
}
