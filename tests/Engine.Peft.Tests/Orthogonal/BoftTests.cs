using Engine.Peft.Orthogonal;
using Xunit;
using static Engine.Peft.Tests.Subspace.SubspaceTestSupport;
using static Engine.Peft.Tests.TestSupport;

namespace Engine.Peft.Tests.Orthogonal;

/// <summary>
/// BOFT: the butterfly permutations are the spec's examples, M (built without dense matrices) equals the naive product
/// of permutation and block-diagonal matrices and stays orthogonal through training, the output scale and bias
/// handling, PEFT's size checks, and the multiplicative block dropout in training only.
/// </summary>
public class BoftTests
{
    const int InF = 16, OutF = 5;

    static BoftLayer Boft(BoftConfig config) => StandaloneLayer(l => new BoftLayer(l), InF, OutF, config);

    [Fact]
    public void Permutations_AreTheSpecsExamples()
    {
        // n = 16, blocks of b = 2 (D = 8), three factors.
        var p = BoftButterfly.Factors(16, 8, 2, 2);
        Assert.Equal(Enumerable.Range(0, 16), p[0]);
        Assert.Equal([0, 2, 1, 3, 4, 6, 5, 7, 8, 10, 9, 11, 12, 14, 13, 15], p[1]);
        Assert.Equal([0, 2, 4, 6, 1, 3, 5, 7, 8, 10, 12, 14, 9, 11, 13, 15], p[2]);
        // One factor (m = 0): the identity whatever the sizes.
        Assert.Equal(Enumerable.Range(0, 16), BoftButterfly.Factors(16, 4, 4, 0)[0]);
        // Blocks of 4 (chunks of 2), D = 4: factor 1 groups 8 entries and takes chunks 0, 2, then 1, 3.
        Assert.Equal([0, 1, 4, 5, 2, 3, 6, 7, 8, 9, 12, 13, 10, 11, 14, 15], BoftButterfly.Factors(16, 4, 4, 1)[1]);
    }

    [Theory]
    [InlineData(2, 3)]
    [InlineData(4, 2)]
    [InlineData(4, 1)]
    public void Butterfly_IsTheNaiveProductAndStaysOrthogonalThroughAdamWSteps(int blockSize, int factors)
    {
        var layer = Boft(new BoftConfig { BoftBlockSize = blockSize, BoftNButterflyFactor = factors, InitWeights = false });
        var x = Randn64(1, 16, InF);
        var target = Randn64(2, 16, OutF);
        var optimizer = new AdamW([layer.R("a"), layer.S("a")], lr: 0.05);
        for (int step = 0; step < 15; step++)
        {
            optimizer.ZeroGrad();
            (layer.Forward(x) - target).Square().Mean().Backward();
            optimizer.Step();
        }
        var m = layer.Butterfly("a").ToDoubleArray();
        AssertClose(Identity(InF), Mul(m, Transpose(m, InF, InF), InF, InF, InF), 1e-10, "M Mᵀ");

        // Naive: O = (I - S)(I + S)⁻¹ per block, M_k = P_k BD_k P_kᵀ with (P)_{i, p_i} = 1, M = M_m ⋯ M_0.
        int d = InF / blockSize, b = blockSize;
        var r = layer.R("a").ToDoubleArray();
        var perms = BoftButterfly.Factors(InF, d, b, factors - 1);
        double[]? expected = null;
        for (int k = 0; k < factors; k++)
        {
            var bd = new double[InF * InF];
            for (int blk = 0; blk < d; blk++)
            {
                var raw = r.Skip((k * d + blk) * b * b).Take(b * b).ToArray();
                var s = Add(raw, Transpose(raw, b, b), -1).Select(v => v / 2).ToArray();
                var o = Mul(Add(Identity(b), s, -1), Inverse(Add(Identity(b), s), b), b, b, b);
                for (int i = 0; i < b; i++)
                    for (int j = 0; j < b; j++) bd[(blk * b + i) * InF + blk * b + j] = o[i * b + j];
            }
            var pm = new double[InF * InF];
            for (int i = 0; i < InF; i++) pm[i * InF + perms[k][i]] = 1;
            var mk = Mul(Mul(pm, bd, InF, InF, InF), Transpose(pm, InF, InF), InF, InF, InF);
            expected = expected is null ? mk : Mul(mk, expected, InF, InF, InF);
        }
        AssertClose(expected!, m, 1e-12, "M");

        // y = s ⊙ ((x M) Wᵀ) + b, the bias not scaled; merging gives the same, and W'W'ᵀ = diag(s) WWᵀ diag(s).
        var w = layer.BaseLayer.Weight.ToDoubleArray();
        var bias = layer.BaseLayer.Bias!.ToDoubleArray();
        var scale = layer.S("a").ToDoubleArray();
        var y = NaiveMatMulT(Mul(x.ToDoubleArray(), m, 16, InF, InF), 16, w, InF, OutF).Select((v, i) => v * scale[i % OutF] + bias[i % OutF]).ToArray();
        AssertClose(y, layer.Forward(x).ToDoubleArray(), 1e-10, "forward");
        var merged = layer.Transform("a", layer.BaseLayer.Weight, null).Weight.ToDoubleArray();
        var gram = Mul(w, Transpose(w, OutF, InF), OutF, InF, OutF).Select((v, i) => v * scale[i / OutF] * scale[i % OutF]).ToArray();
        AssertClose(gram, Mul(merged, Transpose(merged, OutF, InF), OutF, InF, OutF), 1e-10, "W'W'ᵀ");
    }

    [Fact]
    public void Sizes_FollowPeftsChecks()
    {
        Assert.Equal((4, 4), new BoftConfig { BoftBlockSize = 4, BoftNButterflyFactor = 3 }.BlocksFor(16, 2));
        Assert.Equal((8, 2), new BoftConfig { BoftBlockSize = 0, BoftBlockNum = 2, BoftNButterflyFactor = 2 }.BlocksFor(16, 1));
        // b · 2^m must divide the width; D must allow m halvings; odd blocks need m = 0.
        Assert.Throws<ArgumentException>(() => new BoftConfig { BoftBlockSize = 4, BoftNButterflyFactor = 4 }.BlocksFor(16, 3));
        Assert.Throws<ArgumentException>(() => new BoftConfig { BoftBlockSize = 0, BoftBlockNum = 2, BoftNButterflyFactor = 3 }.BlocksFor(16, 2));
        Assert.Throws<ArgumentException>(() => new BoftConfig { BoftBlockSize = 3, BoftNButterflyFactor = 1 }.BlocksFor(16, 0));
        Assert.Equal((3, 4), new BoftConfig { BoftBlockSize = 3 }.BlocksFor(12, 0));
        Assert.Throws<ArgumentException>(() => new BoftConfig { BoftBlockSize = 3, BoftNButterflyFactor = 2 }.BlocksFor(12, 1));
        Assert.Throws<ArgumentException>(() => new BoftConfig { BoftBlockSize = 4, BoftBlockNum = 4 }.Validate());
        Assert.Throws<ArgumentException>(() => new BoftConfig { BoftNButterflyFactor = 0 }.Validate());
    }

    [Fact]
    public void Dropout_ReplacesAFractionOfOneFactorsBlocksByTheIdentity_InTrainingOnly()
    {
        var layer = Boft(new BoftConfig { BoftBlockSize = 2, BoftNButterflyFactor = 3, BoftDropout = 0.5, InitWeights = false });
        var clean = layer.Rotations("a").ToDoubleArray();
        const int d = 8, b = 2, factors = 3;
        layer.Train();
        var seen = new HashSet<int>();
        for (int trial = 0; trial < 12; trial++)
        {
            var dropped = layer.Rotations("a").ToDoubleArray();
            var identity = new List<(int Factor, int Block)>();
            for (int k = 0; k < factors; k++)
                for (int blk = 0; blk < d; blk++)
                {
                    int at = (k * d + blk) * b * b;
                    var block = dropped.Skip(at).Take(b * b).ToArray();
                    if (!block.SequenceEqual(clean.Skip(at).Take(b * b))) { AssertClose(Identity(b), block, 0, "a dropped block"); identity.Add((k, blk)); }
                }
            Assert.Equal(4, identity.Count); // int(0.5 · 8) blocks
            Assert.Single(identity.Select(i => i.Factor).Distinct());
            seen.Add(identity[0].Factor);
        }
        Assert.True(seen.Count > 1, "always the same factor");
        layer.Eval();
        Assert.Equal(clean, layer.Rotations("a").ToDoubleArray());
    }
}
