using Engine.Autograd.Testing;
using FsCheck.Fluent;
using Xunit;

namespace Engine.Autograd.Tests;

/// <summary>
/// forall shapes and (contiguous or strided) inputs in each op's domain, the analytic gradient of every elementwise
/// op equals central finite differences.
/// </summary>
public class ElementwiseGradTests
{
    static void Unary(Func<Tensor, Tensor> op, Func<int[], FsCheck.Gen<Tensor>>? values = null)
        => GradProperty.ForAll(Inputs.Any(values), input => Inputs.CheckUnary(input, op));

    static void Binary(Func<Tensor, Tensor, Tensor> op, Func<int[], FsCheck.Gen<Tensor>>? left = null, Func<int[], FsCheck.Gen<Tensor>>? right = null)
    {
        left ??= s => TensorGen.Float64(s);
        right ??= s => TensorGen.Float64(s);
        var gen = TensorGen.BroadcastableShapes(maxRank: 3, maxDim: 4)
            .SelectMany(p => FsCheck.Fluent.Gen.Zip(Inputs.Of(p.A, left), Inputs.Of(p.B, right)));
        GradProperty.ForAll(gen, p =>
        {
            var (a, b) = p;
            GradProperty.Check(x => op(a.View(x[0]), b.View(x[1])), [a.Base, b.Base]);
        });
    }

    static Func<int[], FsCheck.Gen<Tensor>> Range(double low, double high) => s => TensorGen.Float64(s, low, high);
    static Func<int[], FsCheck.Gen<Tensor>> Positive => s => TensorGen.Positive(s, 0.5, 2);
    static Func<int[], FsCheck.Gen<Tensor>> AwayFromZero => s => TensorGen.AwayFromZero(s, 0.1);

    [Fact] public void Add_OfBroadcastOperands_MatchesFiniteDifferences() => Binary((a, b) => a + b);
    [Fact] public void Sub_OfBroadcastOperands_MatchesFiniteDifferences() => Binary((a, b) => a - b);
    [Fact] public void Mul_OfBroadcastOperands_MatchesFiniteDifferences() => Binary((a, b) => a * b);
    [Fact] public void Div_ByOperandsAwayFromZero_MatchesFiniteDifferences() => Binary((a, b) => a / b, right: s => TensorGen.AwayFromZero(s, 0.5));
    [Fact] public void Pow_WithTensorExponent_MatchesFiniteDifferencesInBaseAndExponent() => Binary((a, b) => a.Pow(b), left: Positive);

    [Fact]
    public void Pow_WithScalarExponents_MatchesFiniteDifferences()
    {
        Unary(x => x.Pow(3.0) + x.Pow(2.0), Range(-2, 2));
        Unary(x => x.Pow(0.5) + x.Pow(-1.5), Positive);
    }

    [Fact]
    public void ScalarArithmetic_OnEitherSide_MatchesFiniteDifferences()
        => Unary(x => (2.5 - x) * 3 + (x + 1) / 4 - 1.5 / (x + 3), Range(-2, 2));

    [Fact]
    public void MaximumAndMinimum_OfSeparatedOperands_SendGradientToTheWinner()
        => GradProperty.ForAll(Inputs.SmallShape().SelectMany(s => TensorGen.SeparatedPair(s, 0.1)), p =>
            GradProperty.Check(x => x[0].Maximum(x[1]) * 2 + x[0].Minimum(x[1]), [p.A, p.B]));

    [Fact]
    public void MaximumAndMinimum_WithBroadcastRow_OfDistinctValues_MatchFiniteDifferences()
        // One tensor of pairwise distinct values: its last row is broadcast against the others, so no pair ties.
        => GradProperty.ForAll(Inputs.SmallShape(2, 2).SelectMany(s => TensorGen.Distinct([s[0] + 1, s[1]])), t =>
        {
            int m = t.Shape[0] - 1;
            GradProperty.Check(x => x[0].Narrow(0, 0, m).Maximum(x[0].Select(0, m)) - x[0].Select(0, m).Minimum(x[0].Narrow(0, 0, m)), [t]);
        });

    [Fact] public void Neg_MatchesFiniteDifferences() => Unary(x => -x);
    [Fact] public void Abs_AwayFromZero_MatchesFiniteDifferences() => Unary(x => x.Abs(), AwayFromZero);
    [Fact] public void Exp_MatchesFiniteDifferences() => Unary(x => x.Exp());
    [Fact] public void Log_OfPositiveValues_MatchesFiniteDifferences() => Unary(x => x.Log(), Positive);
    [Fact] public void Log1p_AboveMinusOne_MatchesFiniteDifferences() => Unary(x => x.Log1p(), Range(-0.5, 2));
    [Fact] public void Sqrt_OfPositiveValues_MatchesFiniteDifferences() => Unary(x => x.Sqrt(), Positive);
    [Fact] public void Rsqrt_OfPositiveValues_MatchesFiniteDifferences() => Unary(x => x.Rsqrt(), Positive);
    [Fact] public void SinAndCos_MatchFiniteDifferences() => Unary(x => x.Sin() + x.Cos() * 2, Range(-4, 4));
    [Fact] public void Tanh_MatchesFiniteDifferences() => Unary(x => x.Tanh(), Range(-3, 3));
    [Fact] public void Sigmoid_MatchesFiniteDifferences() => Unary(x => x.Sigmoid(), Range(-4, 4));
    [Fact] public void Relu_AwayFromZero_MatchesFiniteDifferences() => Unary(x => x.Relu(), AwayFromZero);
    [Fact] public void GeluErf_MatchesFiniteDifferences() => Unary(x => x.Gelu(), Range(-3, 3));
    [Fact] public void GeluTanh_MatchesFiniteDifferences() => Unary(x => x.Gelu(tanhApproximation: true), Range(-3, 3));
    [Fact] public void Silu_MatchesFiniteDifferences() => Unary(x => x.Silu(), Range(-4, 4));

    [Fact]
    public void Softplus_InItsCurvedAndLinearRanges_MatchesFiniteDifferences()
    {
        Unary(x => x.Softplus(), Range(-4, 4));
        Unary(x => x.Softplus(), Range(21, 25));
    }

    [Fact] public void Square_MatchesFiniteDifferences() => Unary(x => x.Square());
    [Fact] public void Reciprocal_AwayFromZero_MatchesFiniteDifferences() => Unary(x => x.Reciprocal(), s => TensorGen.AwayFromZero(s, 0.5));
    [Fact] public void Erf_MatchesFiniteDifferences() => Unary(x => x.Erf(), Range(-2.5, 2.5));

    [Fact]
    public void Clamp_AwayFromItsBounds_PassesGradientInsideAndZeroOutside()
    {
        Func<int[], FsCheck.Gen<Tensor>> values = s => TensorGen.Avoiding(s, -2, 2, [-0.5, 0.7], 0.05);
        Unary(x => x.Clamp(-0.5, 0.7), values);
        Unary(x => x.Clamp(min: -0.5) + x.Clamp(max: 0.7) * 2, values);
    }

    [Fact]
    public void Where_WithBroadcastConditionAndBranches_MatchesFiniteDifferences()
    {
        var gen = TensorGen.BroadcastableShapes(maxRank: 3, maxDim: 4).SelectMany(p =>
            Gen.Zip(Gen.Zip(Inputs.Of(p.A), Inputs.Of(p.B)), TensorGen.Float64(p.B.Length >= p.A.Length ? p.A : p.B)));
        GradProperty.ForAll(gen, q =>
        {
            var ((a, b), c) = q;
            var condition = c.Gt(0);
            GradProperty.Check(x => Tensor.Where(condition, a.View(x[0]), b.View(x[1]) * 3), [a.Base, b.Base]);
            GradProperty.Check(x => Tensor.Where(condition, a.View(x[0]), 1.5), [a.Base]);
        });
    }

    [Fact]
    public void MaskedFill_WithBroadcastMask_ZeroesTheGradientOfFilledElements()
        => GradProperty.ForAll(Inputs.Any(minRank: 1).SelectMany(a => TensorGen.Float64(a.Value.Shape[1..]).Select(m => (a, m))), p =>
            GradProperty.Check(x => p.a.View(x[0]).MaskedFill(p.m.Gt(0), 7.0).Exp(), [p.a.Base]));

    [Fact]
    public void Cast_ThroughFloat32AndBack_MatchesFiniteDifferencesAtFloat32Precision()
        // Float32 rounding (about 1e-7 relative) divided by the step dominates the numeric error, hence the wide step.
        => GradProperty.ForAll(Inputs.Any(), input =>
            GradProperty.Check(x => (input.View(x[0]).To(DType.Float32) * 3).To(DType.Float64) + input.View(x[0]).To(DType.Float32).To(DType.Float64),
                [input.Base], new GradCheckOptions(Eps: 1e-2, Atol: 1e-3, Rtol: 1e-2)), maxTest: 10);

    [Fact]
    public void Cast_OfFloat32Leaf_GivesFloat32GradientOfTheFloat64Computation()
    {
        var x = Tensor.FromArray(new float[] { 1, -2, 3 }).RequireGrad();
        (x.To(DType.Float64).Square() * 0.5).Sum().Backward();
        Assert.Equal(DType.Float32, x.Grad!.DType);
        Assert.Equal(new float[] { 1, -2, 3 }, x.Grad.ToArray<float>());
    }

    [Fact]
    public void CloneAndContiguous_OfStridedViews_MatchFiniteDifferences()
        => Unary(x => x.Clone() * x.Contiguous().Exp());
}
