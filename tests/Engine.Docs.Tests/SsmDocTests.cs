using DocExamples;

namespace Engine.Docs.Tests;

/// <summary>docs/ssm.md: an S4D block with its parameter groups, and a hybrid GPT generating.</summary>
public sealed class SsmDocTests
{
    [Fact]
    public void TheBlockKeepsItsShapeAndGroupsTheDynamicsApart()
    {
        var (block, opt, y) = SsmExamples.Block();
        Assert.Equal([2, 1024, 64], y.Shape);
        var ssm = Assert.Single(opt.Groups, g => g.Name == SsmParamGroups.SsmGroupName);
        var rest = Assert.Single(opt.Groups, g => g.Name == SsmParamGroups.DefaultGroupName);
        Assert.Equal((1e-3, 0.0), (ssm.Lr, ssm.WeightDecay));
        Assert.Equal((3e-3, 0.1), (rest.Lr, rest.WeightDecay));
        // log_dt [H], log_A_real [H, N/2], A_imag [H, N/2]: the dynamics, and nothing else.
        Assert.Equal(64 + 2 * 64 * 32, ssm.Parameters.Sum(p => p.Numel));
        Assert.Equal(block.Parameters().Sum(p => p.Numel), ssm.Parameters.Concat(rest.Parameters).Sum(p => p.Numel));
    }

    [Fact]
    public void TheHybridGptGeneratesWhatFullRecomputationPredicts()
    {
        var (gpt, prompt, tokens) = SsmExamples.Hybrid();
        Assert.Equal([1, 53], tokens.Shape);
        var ids = tokens.ToArray<long>();
        Assert.Equal(prompt.ToArray<long>(), ids[..3]);
        // Greedy decoding with caches must pick, at each step, the argmax of the model run over the whole prefix.
        using var _ = Autograd.Autograd.NoGrad();
        var logits = gpt.Forward(tokens.Narrow(1, 0, 52));
        var vocab = logits.Size(2);
        var all = logits.ToDoubleArray();
        for (int t = 2; t < 52; t++)
        {
            var row = all.AsSpan(t * vocab, vocab).ToArray();
            Assert.Equal(Array.IndexOf(row, row.Max()), (int)ids[t + 1]);
        }
    }
}
