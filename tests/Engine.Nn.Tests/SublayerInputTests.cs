using Xunit;

namespace Engine.Nn.Tests;

/// <summary>
/// <see cref="SublayerInput"/>: GPT-2's pre-norm blocks publish the residual stream entering each sublayer (before ln1,
/// before ln2), BERT's sublayer ends the residual their LayerNorm adds; nothing is published outside a sublayer.
/// </summary>
public class SublayerInputTests
{
    // Records SublayerInput.Current and returns its input plus one (so that the stream changes between sublayers).
    sealed class Probe(List<Tensor?> seen) : Module
    {
        public override Tensor Forward(Tensor input)
        {
            seen.Add(SublayerInput.Current);
            return input + 1;
        }
    }

    [Fact]
    public void TransformerBlock_PublishesTheStreamBeforeEachLayerNorm()
    {
        var seen = new List<Tensor?>();
        var block = new TransformerBlock(new AttentionOptions(8, 2), 16, generator: new Generator(1));
        block.ReplaceModule("attn", new Probe(seen));
        block.ReplaceModule("mlp", new Probe(seen));
        var x = Tensor.Randn([2, 4, 8], generator: new Generator(2));
        var y = block.Forward(x);
        Assert.Null(SublayerInput.Current);
        Assert.Equal(2, seen.Count);
        Assert.Equal(x.ToDoubleArray(), seen[0]!.ToDoubleArray());
        // The second sublayer sees x + attn(ln1(x)) = x + ln1(x) + 1.
        var afterAttention = x + block.Ln1.Forward(x) + 1;
        AssertClose(afterAttention.ToDoubleArray(), seen[1]!.ToDoubleArray(), 1e-6, "stream before ln2");
        AssertClose((afterAttention + block.Ln2.Forward(afterAttention) + 1).ToDoubleArray(), y.ToDoubleArray(), 1e-6, "block output unchanged");
    }

    [Fact]
    public void BertResidualOutput_PublishesTheResidualWhileItsDenseRuns_AndRunRestoresTheOuterScope()
    {
        var seen = new List<Tensor?>();
        var output = new BertResidualOutput(8, new BertConfig(20, 8, 1, 2, 16, 8, Dropout: 0, AttentionDropout: 0), new Generator(1));
        output.ReplaceModule("dense", new Probe(seen));
        var (x, residual) = (Tensor.Randn([2, 3, 8], generator: new Generator(2)), Tensor.Randn([2, 3, 8], generator: new Generator(3)));
        var outer = Tensor.Zeros([1]);
        SublayerInput.Run(outer, () =>
        {
            output.Forward(x, residual);
            Assert.Same(outer, SublayerInput.Current);
            return outer;
        });
        Assert.Same(residual, Assert.Single(seen));
        Assert.Null(SublayerInput.Current);
    }
}
