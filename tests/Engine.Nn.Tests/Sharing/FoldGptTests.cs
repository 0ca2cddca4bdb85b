using Xunit;
using static Engine.Nn.Tests.TestSupport;

namespace Engine.Nn.Tests.Sharing;

/// <summary>
/// FoldGPT (structure-and-optimizers.md 1.4 oracles): all gates 1 reproduces the base model bit for bit (also with a KV
/// cache); a block whose gate is 0 changes nothing, and removing it gives the same outputs; the pruned model removes the
/// lowest gates; grouped blocks share weight tensors but not LayerNorms; the polarisation penalty and the distillation
/// losses equal their formulas written as loops; the gates' gradient passes GradCheck.
/// </summary>
public class FoldGptTests
{
    static readonly long[,] Tokens = { { 1, 4, 2, 9, 3 }, { 7, 0, 5, 5, 10 } };

    static Gpt Model(int layers = 3, ulong seed = 1) => (Gpt)TinyGpt(layers, seed: seed).Eval();

    static void SetGates(Gpt model, params double[] values)
    {
        var gates = FoldGpt.Gates(model);
        using (Autograd.Autograd.NoGrad())
            for (int i = 0; i < values.Length; i++) gates[i].CopyFrom(Tensor.FromArray(new[] { values[i] }).To(gates[i].DType));
    }

    [Fact]
    public void AllGatesOne_ReproducesTheBaseModelBitForBit_WithAndWithoutACache()
    {
        var model = Model();
        var ids = Ids(Tokens);
        var before = model.Forward(ids).ToDoubleArray();
        var gates = FoldGpt.AddGates(model);
        Assert.Equal(3, gates.Count);
        Assert.Equal(before, model.Forward(ids).ToDoubleArray());

        // Token by token through the KV cache: the gate wrapper passes the decoding state on.
        var cache = model.CreateCache();
        var steps = Enumerable.Range(0, 5).Select(t => model.Forward(ids.Narrow(1, t, 1), cache)).ToArray();
        AssertClose(before, Tensor.Concat(steps, 1).ToDoubleArray(), 1e-5, "cached logits");
    }

    [Fact]
    public void AZeroGate_IsTheBaseModelWithoutThatBlock_AndPruningItChangesNothing()
    {
        var model = Model(3);
        var ids = Ids(Tokens);
        // Oracle: the base model's layers called by hand, skipping block 1.
        var x = model.Tok.Forward(ids) + model.Pos!.Forward(Tensor.Arange(0, 5));
        x = model.Blocks[2].Forward(model.Blocks[0].Forward(x));
        var skipped = model.LnF.Forward(x).MatMul(model.Tok.Weight.T).ToDoubleArray();

        FoldGpt.AddGates(model);
        SetGates(model, 1, 0, 1);
        Assert.Equal(skipped, model.Forward(ids).ToDoubleArray());
        // Block 1's weights no longer matter.
        ScrambleAll(GptLinears.Of(model).First(t => t.Layer == 1).Linear, 5);
        Assert.Equal(skipped, model.Forward(ids).ToDoubleArray());

        var pruned = FoldGpt.Prune(model, removalRate: 1.0 / 3);
        Assert.Equal(2, pruned.Config.Layers);
        Assert.Equal(skipped, pruned.Forward(ids).ToDoubleArray());
    }

    [Fact]
    public void Prune_WithOtherGates_ComputesWhatTheGatedModelComputes()
    {
        var model = Model(3);
        FoldGpt.AddGates(model);
        SetGates(model, 0.7, 0.0, 1.3);
        var gated = model.Forward(Ids(Tokens)).ToDoubleArray();
        AssertClose(gated, FoldGpt.Prune(model, 1.0 / 3).Forward(Ids(Tokens)).ToDoubleArray(), 1e-5, "pruned logits");
    }

    [Fact]
    public void Prune_KeepsTheOtherBlocksWeights_WithTheGateFoldedIntoTheOutputProjections()
    {
        var model = Model(4);
        FoldGpt.AddGates(model);
        SetGates(model, 0.9, 0.05, 1.1, -0.01);
        var pruned = FoldGpt.Prune(model, 0.5);
        Assert.Equal([0, 2], FoldGpt.KeptBlocks([0.9, 0.05, 1.1, -0.01], 0.5));
        Assert.Equal(2, pruned.Blocks.Count);
        var source = model.Blocks[2];
        AssertClose(source.Attn.Qkv.Weight, pruned.Blocks[1].Attn.Qkv.Weight, 0);
        AssertClose((source.Attn.Proj.Weight * 1.1).ToDoubleArray(), pruned.Blocks[1].Attn.Proj.Weight.ToDoubleArray(), 1e-7);
        AssertClose((source.Mlp.Proj.Bias! * 1.1).ToDoubleArray(), pruned.Blocks[1].Mlp.Proj.Bias!.ToDoubleArray(), 1e-7);
        Assert.Empty(FoldGpt.Gates(pruned));
    }

    [Fact]
    public void KeptBlocks_RemovesTheSmallestMagnitudesUpToTheRate()
    {
        Assert.Equal([0, 1, 3, 5], FoldGpt.KeptBlocks([0.5, 0.9, 0.1, 0.7, -0.05, 0.3], 0.34));
        Assert.Equal([0, 1, 2], FoldGpt.KeptBlocks([0.5, 0.9, 0.1], 0.2));
        Assert.Throws<ArgumentException>(() => FoldGpt.KeptBlocks([0.5], 1.0));
    }

    [Fact]
    public void GroupedBlocks_ShareWeightTensors_ButKeepTheirOwnLayerNorms()
    {
        var model = Model(5);
        var means = Enumerable.Range(0, 2).Select(b => ((model.Blocks[2 * b].Attn.Qkv.Weight + model.Blocks[2 * b + 1].Attn.Qkv.Weight) / 2).ToDoubleArray()).ToArray();
        var norm1 = model.Blocks[1].Ln1.Weight;
        Assert.Equal([0, 0, 1, 1, 2], FoldGpt.ShareGroups(model, 2));
        var blocks = model.Blocks;
        Assert.Same(blocks[0].Attn.Qkv.Weight, blocks[1].Attn.Qkv.Weight);
        Assert.Same(blocks[2].Mlp.Fc.Weight, blocks[3].Mlp.Fc.Weight);
        Assert.NotSame(blocks[1].Attn.Qkv.Weight, blocks[2].Attn.Qkv.Weight);
        Assert.NotSame(blocks[0].Ln1.Weight, blocks[1].Ln1.Weight);
        Assert.NotSame(blocks[0].Ln2.Bias, blocks[1].Ln2.Bias);
        Assert.Same(norm1, blocks[1].Ln1.Weight);
        AssertClose(means[0], blocks[0].Attn.Qkv.Weight.ToDoubleArray(), 1e-7);
        AssertClose(means[1], blocks[3].Attn.Qkv.Weight.ToDoubleArray(), 1e-7);
        // Per shared pair: one set of weights; every block keeps 2 norms of 2 × 8 values.
        var dense = Model(5);
        long perBlock = dense.Blocks[0].ParameterCount(), norms = 4 * 8;
        Assert.Equal(dense.ParameterCount() - 2 * (perBlock - norms), model.ParameterCount());
    }

    [Fact]
    public void GatePenalty_IsLambdaTimesTL1MinusSpread()
    {
        var model = Model(4);
        FoldGpt.AddGates(model);
        double[] g = [0.9, 0.05, -0.4, 1.2];
        SetGates(model, g);
        double mean = g.Average();
        double expected = 0.03 * (1.5 * g.Sum(Math.Abs) - g.Sum(x => Math.Abs(x - mean)));
        AssertClose(expected, FoldGpt.GatePenalty(model, 0.03, 1.5).ToDoubleArray()[0], 1e-6);
        using var aux = AuxiliaryLosses.Collect();
        AuxiliaryLosses.Add("foldgpt_gates", FoldGpt.GatePenalty(model, 0.03, 1.5));
        AssertClose(expected, aux.Total().ToDoubleArray()[0], 1e-6);
    }

    [Fact]
    public void Gates_PassGradCheckInFloat64()
    {
        var model = Model(2);
        FoldGpt.AddGates(model);
        SetGates(model, 0.8, 1.2);
        model.To(DType.Float64);
        var ids = Ids(Tokens);
        var gates = FoldGpt.Gates(model).Select((g, i) => ($"gate{i}", g));
        var result = Autograd.GradCheck.CheckParameters(() => model.Forward(ids) + FoldGpt.GatePenalty(model), gates);
        Assert.True(result.Passed, result.Message);
    }

    [Fact]
    public void Distillation_KlAndMse_MatchTheirDefinitions_AndVanishForTheTeacherItself()
    {
        var student = Randn64(1, 2, 3, 5);
        var teacher = Randn64(2, 2, 3, 5);
        double t = 2.0;
        var (s, te) = (student.ToDoubleArray(), teacher.ToDoubleArray());
        double kl = 0;
        for (int r = 0; r < 6; r++)
        {
            var ps = Enumerable.Range(0, 5).Select(k => Math.Exp(s[r * 5 + k] / t)).ToArray();
            var pt = Enumerable.Range(0, 5).Select(k => Math.Exp(te[r * 5 + k] / t)).ToArray();
            double zs = ps.Sum(), zt = pt.Sum();
            for (int k = 0; k < 5; k++) kl += pt[k] / zt * Math.Log(pt[k] / zt / (ps[k] / zs));
        }
        AssertClose(kl / 6 * t * t, FoldGptDistillation.LogitKl(student, teacher, t).ToDoubleArray()[0], 1e-10);
        AssertClose(s.Zip(te, (a, b) => (a - b) * (a - b)).Average(), FoldGptDistillation.HiddenMse(student, teacher).ToDoubleArray()[0], 1e-10);

        var model = Model(2);
        AssertClose(0, FoldGptDistillation.Loss(model, model, Ids(Tokens)).ToDoubleArray()[0], 1e-6);
        var pruned = Model(1, seed: 3);
        Assert.True(FoldGptDistillation.Loss(pruned, model, Ids(Tokens)).ToDoubleArray()[0] > 1e-4);
        Assert.Contains("differ", Assert.Throws<ArgumentException>(() => FoldGptDistillation.LogitKl(student, teacher.Narrow(2, 0, 4))).Message);
    }

    [Fact]
    public void Pipeline_GatesWithPenalty_Prune_ShareGroups_ThenTheCureLowersTheDistillationLoss()
    {
        // A teacher whose blocks matter (scrambled weights), and a student that starts as its copy.
        var teacher = Model(4);
        ScrambleAll(teacher, 31, 0.3);
        var student = Model(4);
        student.LoadStateDict(teacher.StateDict());
        var ids = Ids(Tokens);
        var targets = Ids(new long[,] { { 4, 2, 9, 3, 1 }, { 0, 5, 5, 10, 7 } });

        // (1) Gates trained jointly with the penalty (the task loss and the penalty through AuxiliaryLosses).
        FoldGpt.AddGates(student);
        var gateOptimizer = new AdamW(FoldGpt.Gates(student), 5e-2, weightDecay: 0);
        for (int step = 0; step < 5; step++)
        {
            using var aux = AuxiliaryLosses.Collect();
            AuxiliaryLosses.Add("foldgpt_gates", FoldGpt.GatePenalty(student, 0.05));
            var loss = Losses.CrossEntropy(student.Forward(ids), targets) + aux.Total();
            gateOptimizer.ZeroGrad();
            Autograd.Autograd.Backward(loss);
            gateOptimizer.Step();
        }
        Assert.Contains(FoldGpt.Gates(student), g => Math.Abs(g.ToDoubleArray()[0] - 1) > 1e-3);

        // (2) Half the blocks removed, (3) the two kept ones share weights, private norms.
        var pruned = FoldGpt.Prune(student, 0.5);
        FoldGpt.ShareGroups(pruned, 2);
        Assert.Same(pruned.Blocks[0].Mlp.Fc.Weight, pruned.Blocks[1].Mlp.Fc.Weight);

        // The cure: distillation from the dense teacher falls.
        var optimizer = new AdamW(pruned.Parameters(), 3e-3);
        double first = 0, last = 0;
        for (int step = 0; step < 8; step++)
        {
            var loss = FoldGptDistillation.Loss(pruned, teacher, ids, temperature: 2.0);
            optimizer.ZeroGrad();
            Autograd.Autograd.Backward(loss);
            optimizer.Step();
            if (step == 0) first = loss.Item();
            last = loss.Item();
        }
        Assert.True(first > 0.01, $"pruning left the student at distillation loss {first}: nothing to cure");
        Assert.True(last < first * 0.8, $"distillation loss {first} -> {last}");
    }
}
