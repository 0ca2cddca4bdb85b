using Engine.Autograd.Testing;
using FsCheck.Fluent;
using Xunit;

namespace Engine.Autograd.Tests;

/// <summary>
/// forall shapes, (contiguous or strided) inputs, reduced axes and keepDim, the gradients of reductions, scans and
/// softmax match finite differences. Extremum reductions use pairwise distinct values (no ties); Prod, Norm(1) and
/// Norm(inf) use values away from zero.
/// </summary>
public class ReductionGradTests
{
    static void ForAllAxes(Action<StridedInput, int[], bool> body, Func<int[], FsCheck.Gen<Tensor>>? values = null, bool allowExpand = true, int minDim = 1)
    {
        var shapes = minDim == 1 ? Inputs.SmallShape() : TensorGen.Shape(1, 3, 4).Select(s => s.Select(d => Math.Max(d, minDim)).ToArray());
        var gen = shapes.SelectMany(s => Gen.Zip(Inputs.Of(s, values, allowExpand), Gen.Zip(Inputs.Axes(s.Length), Gen.Elements(true, false)), (i, q) => (i, q.Item1, q.Item2)));
        GradProperty.ForAll(gen, p => body(p.Item1, p.Item2, p.Item3));
    }

    static Func<int[], FsCheck.Gen<Tensor>> Distinct => s => TensorGen.Distinct(s);

    [Fact]
    public void Sum_OverRandomAxes_MatchesFiniteDifferences()
        => ForAllAxes((input, axes, keep) =>
        {
            Inputs.CheckUnary(input, t => t.Sum(axes, keep).Exp());
            Inputs.CheckUnary(input, t => t.Sum().Exp());
        });

    [Fact]
    public void Mean_OverRandomAxes_MatchesFiniteDifferences()
        => ForAllAxes((input, axes, keep) => Inputs.CheckUnary(input, t => t.Mean(axes, keep).Exp()));

    [Fact]
    public void Prod_OfValuesAwayFromZero_MatchesFiniteDifferences()
        => ForAllAxes((input, axes, keep) => Inputs.CheckUnary(input, t => t.Prod(axes, keep)), s => TensorGen.AwayFromZero(s, 0.5, 1.5));

    [Fact]
    public void AmaxAndAmin_OfDistinctValues_MatchFiniteDifferences()
        => ForAllAxes((input, axes, keep) =>
        {
            Inputs.CheckUnary(input, t => t.Amax(axes, keep).Exp());
            Inputs.CheckUnary(input, t => t.Amin(axes, keep).Exp());
            Inputs.CheckUnary(input, t => t.Max() - t.Min() * 2);
        }, Distinct, allowExpand: false);

    [Fact]
    public void MaxAndMinAlongADimension_Values_MatchFiniteDifferences()
        => GradProperty.ForAll(Inputs.Any(Distinct, allowExpand: false, minRank: 1).SelectMany(i => Gen.Choose(0, i.Value.Rank - 1).Select(d => (i, d))), p =>
        {
            var (input, d) = p;
            Inputs.CheckUnary(input, t => t.Max(d).Values.Exp() + t.Min(d, keepDim: true).Values.Sum(d).Sin());
        });

    [Fact]
    public void VarAndStd_BiasedAndUnbiased_MatchFiniteDifferences()
        => ForAllAxes((input, axes, keep) =>
        {
            Inputs.CheckUnary(input, t => t.Var(axes, unbiased: keep, keepDim: keep));
            Inputs.CheckUnary(input, t => t.Std(axes, unbiased: !keep, keepDim: keep));
        }, Distinct, allowExpand: false, minDim: 2);

    [Fact]
    public void LogSumExp_OverRandomAxes_MatchesFiniteDifferences()
        => ForAllAxes((input, axes, keep) => Inputs.CheckUnary(input, t => t.LogSumExp(axes, keep)), s => TensorGen.Float64(s, -3, 3));

    [Fact]
    public void Norm_OneTwoAndInfinity_MatchFiniteDifferences()
    {
        // Distinct magnitudes with random signs: no |x| ties for the infinity norm and no zeros for the 1-norm.
        Func<int[], FsCheck.Gen<Tensor>> values = s => Gen.Zip(TensorGen.Distinct(s, 0.2, 2), TensorGen.AwayFromZero(s)).Select(p => p.Item1 * p.Item2.Sign());
        ForAllAxes((input, axes, keep) =>
        {
            Inputs.CheckUnary(input, t => t.Norm(1, axes, keep));
            Inputs.CheckUnary(input, t => t.Norm(2, axes, keep));
            Inputs.CheckUnary(input, t => t.Norm(double.PositiveInfinity, axes, keep));
        }, values, allowExpand: false);
    }

    [Fact]
    public void Cumsum_AlongEachDimension_MatchesFiniteDifferences()
        => GradProperty.ForAll(Inputs.Any().SelectMany(i => Gen.Choose(0, Math.Max(i.Value.Rank - 1, 0)).Select(d => (i, d))), p =>
            Inputs.CheckUnary(p.i, t => t.Cumsum(p.d).Sin()));

    [Fact]
    public void SoftmaxAndLogSoftmax_AlongEachDimension_MatchFiniteDifferences()
        => GradProperty.ForAll(Inputs.Any(s => TensorGen.Float64(s, -3, 3)).SelectMany(i => Gen.Choose(0, Math.Max(i.Value.Rank - 1, 0)).Select(d => (i, d))), p =>
        {
            Inputs.CheckUnary(p.i, t => t.Softmax(p.d));
            Inputs.CheckUnary(p.i, t => t.LogSoftmax(p.d));
        });
}
