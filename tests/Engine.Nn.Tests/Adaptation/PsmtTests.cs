using Xunit;
using static Engine.Nn.Tests.TestSupport;

namespace Engine.Nn.Tests.Adaptation;

/// <summary>PSMT (spec seeds-remaining.md §4) and its pieces against hand computations and the spec's oracles.</summary>
public class PsmtTests
{
    [Fact]
    public void LinearQuantile_IsNumpysDefault()
    {
        // numpy.quantile([4, 1, 3, 2, 10], q): positions q·4 between sorted 1 2 3 4 10.
        double[] v = [4, 1, 3, 2, 10];
        Assert.Equal(1, LinearQuantile.Of(v, 0));
        Assert.Equal(10, LinearQuantile.Of(v, 1));
        Assert.Equal(3, LinearQuantile.Of(v, 0.5));
        Assert.Equal(1.12, LinearQuantile.Of(v, 0.03), 12);   // position 0.12: 1 + 0.12·(2 − 1)
        Assert.Equal(5.2, LinearQuantile.Of(v, 0.8), 12);     // position 3.2: 4 + 0.2·6
        Assert.Equal(7, LinearQuantile.Of([7], 0.3));
        Assert.Throws<ArgumentException>(() => LinearQuantile.Of([], 0.5));
        Assert.Throws<ArgumentOutOfRangeException>(() => LinearQuantile.Of(v, 1.5));
    }

    [Fact]
    public void SymmetricCrossEntropy_MatchesTheFormula()
    {
        var s = Randn64(1, 3, 4);
        var t = Randn64(2, 3, 4);
        double expected = 0;
        var sv = s.ToDoubleArray();
        var tv = t.ToDoubleArray();
        for (int b = 0; b < 3; b++)
        {
            double[] Softmax(double[] x) { var e = Enumerable.Range(0, 4).Select(c => Math.Exp(x[b * 4 + c])).ToArray(); double z = e.Sum(); return e.Select(v => v / z).ToArray(); }
            var ps = Softmax(sv);
            var pt = Softmax(tv);
            expected += Enumerable.Range(0, 4).Sum(c => -0.7 * pt[c] * Math.Log(ps[c]) - 0.3 * ps[c] * Math.Log(pt[c])) / 3;
        }
        Assert.Equal(expected, SymmetricCrossEntropy.Compute(s, t, alpha: 0.3).Item(), 12);
    }

    // A two-class linear model on 3 features, Float64.
    static Linear Model(ulong seed) => (Linear)new Linear(3, 2, generator: new Generator(seed)).To(DType.Float64);

    [Fact]
    public void WithoutRestoringOrAnchor_IsAPlainMeanTeacher()
    {
        // λ = 0 and quantile 0: Adam on SCE(s, t) with the teacher following by EMA, written out here with the engine's Adam.
        var options = new PsmtOptions(LearningRate: 1e-2, Lambda: 0, Quantile: 0, Momentum: 0.9, AnchorThreshold: 0);
        var adapted = Model(3);
        var psmt = new ParameterSelectiveMeanTeacher(adapted, adapted.Forward, options);
        var reference = Model(3);
        var teacher = Model(3);
        var adam = new Adam(reference.Parameters(), 1e-2);
        for (int step = 0; step < 5; step++)
        {
            var x = Randn64(10 + (ulong)step, 6, 3);
            var result = psmt.Adapt(x);
            var s = reference.Forward(x);
            Tensor t;
            using (Autograd.Autograd.NoGrad()) t = teacher.Forward(x);
            AssertClose((t + s).ToDoubleArray(), result.Prediction.ToDoubleArray(), 1e-12);
            Autograd.Autograd.Backward(SymmetricCrossEntropy.Compute(s, t));
            adam.Step();
            adam.ZeroGrad();
            using (Autograd.Autograd.NoGrad())
                foreach (var (tp, rp) in teacher.Parameters().Zip(reference.Parameters())) tp.CopyFrom(tp * 0.9 + rp * 0.1);
            Assert.Equal(0, result.RestoredFraction);
        }
        AssertClose(reference.Weight.ToDoubleArray(), adapted.Weight.ToDoubleArray(), 1e-12);
        AssertClose(teacher.Weight.ToDoubleArray(), psmt.Teacher[0].ToDoubleArray(), 1e-12);
    }

    [Fact]
    public void MaskedEntries_AreTheInitialValuesBitForBit_AndTheTeacherTakesThem()
    {
        var model = Model(4);
        var initial = model.Parameters().Select(p => p.ToDoubleArray()).ToList();
        var psmt = new ParameterSelectiveMeanTeacher(model, model.Forward, new PsmtOptions(LearningRate: 0.05, Quantile: 0.5, AnchorThreshold: 0));
        for (int step = 0; step < 4; step++)
        {
            var result = psmt.Adapt(Randn64(20 + (ulong)step, 5, 3));
            Assert.InRange(result.RestoredFraction, 0.3, 0.6);
            var parameters = model.Parameters().ToList();
            for (int j = 0; j < parameters.Count; j++)
            {
                var value = parameters[j].ToDoubleArray();
                var teacher = psmt.Teacher[j].ToDoubleArray();
                var mask = psmt.LastMask[j].ToArray<bool>();
                for (int i = 0; i < value.Length; i++)
                    if (mask[i])
                    {
                        Assert.Equal(initial[j][i], value[i]);
                        Assert.Equal(initial[j][i], teacher[i]);
                    }
            }
        }
        Assert.True(model.Parameters().Zip(initial).Any(p => !p.First.ToDoubleArray().SequenceEqual(p.Second)), "the unmasked entries adapt");
    }

    [Fact]
    public void MomentumOne_TheTeacherNeverMovesOnUnmaskedEntries()
    {
        var model = Model(5);
        var psmt = new ParameterSelectiveMeanTeacher(model, model.Forward, new PsmtOptions(LearningRate: 0.05, Quantile: 0.2, Momentum: 1, AnchorThreshold: 0));
        var before = psmt.Teacher.Select(t => t.ToDoubleArray()).ToList();
        psmt.Adapt(Randn64(30, 5, 3));
        for (int j = 0; j < before.Count; j++)
        {
            var mask = psmt.LastMask[j].ToArray<bool>();
            var after = psmt.Teacher[j].ToDoubleArray();
            for (int i = 0; i < after.Length; i++) if (!mask[i]) Assert.Equal(before[j][i], after[i]);
        }
    }

    [Fact]
    public void FisherAnchor_PullsTowardsTheSource_AndLowConfidenceAveragesTheTeacherOverAugmentations()
    {
        var model = Model(6);
        var source = model.Parameters().Select(p => p.ToDoubleArray()).ToList();
        var fisher = SourceFisher.Estimate([.. model.TrainableParameters()], 3, i => model.Forward(Randn64(40 + (ulong)i, 8, 3)));
        Assert.All(fisher, f => Assert.True(f.ToDoubleArray().All(v => v >= 0)));
        double Drift(double lambda)
        {
            var m = Model(6);
            var psmt = new ParameterSelectiveMeanTeacher(m, m.Forward, new PsmtOptions(LearningRate: 0.05, Lambda: lambda, Quantile: 0, AnchorThreshold: 0), fisher);
            for (int step = 0; step < 10; step++) psmt.Adapt(Randn64(50 + (ulong)step, 6, 3) + 2);
            return m.Parameters().Zip(source).Sum(p => p.First.ToDoubleArray().Zip(p.Second, (a, b) => (a - b) * (a - b)).Sum());
        }
        Assert.True(Drift(1e4) < Drift(0), "the anchor keeps the weights nearer the source");

        int augmentations = 0;
        var low = Model(7);
        var confident = new ParameterSelectiveMeanTeacher(low, low.Forward, new PsmtOptions(AnchorThreshold: 1.01, AugmentationPasses: 4), augment: x => { augmentations++; return x * 1.01; });
        Assert.True(confident.Adapt(Randn64(60, 4, 3)).AveragedTeacher);
        Assert.Equal(5, augmentations);   // four teacher passes and the student's augmented view
        Assert.Throws<ArgumentException>(() => new ParameterSelectiveMeanTeacher(low, low.Forward, sourceFisher: [fisher[0]]));
    }
}
