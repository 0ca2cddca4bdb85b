using Xunit;

namespace Engine.Tests;

public class ElementwiseTests
{
    /// <summary>Broadcasting pairs, including scalars, size-1 and size-0 dimensions.</summary>
    public static readonly (int[] A, int[] B)[] Pairs =
    [
        ([3, 4], [4]), ([3, 1], [1, 4]), ([2, 1, 4], [3, 1]), ([], [2, 3]), ([2, 3], []), ([0, 3], [1, 3]),
        ([5], [5]), ([2, 3, 4], [2, 3, 4]), ([4, 1, 5], [1, 6, 1]), ([1], [0]), ([2, 3, 2, 3], [3, 1, 3]),
    ];

    static readonly Dictionary<string, (Func<Tensor, Tensor, Tensor> Op, Func<double, double, double> Ref)> BinaryOps = new()
    {
        ["Add"] = ((a, b) => a + b, (x, y) => x + y),
        ["Sub"] = ((a, b) => a - b, (x, y) => x - y),
        ["Mul"] = ((a, b) => a * b, (x, y) => x * y),
        ["Div"] = ((a, b) => a / b, (x, y) => x / y),
        ["Pow"] = ((a, b) => a.Pow(b), Math.Pow),
        ["Maximum"] = ((a, b) => a.Maximum(b), Math.Max),
        ["Minimum"] = ((a, b) => a.Minimum(b), Math.Min),
    };

    // Positive operands keep Div away from 0 and Pow real.
    static (double Low, double High) Range(string op) => op is "Div" or "Pow" ? (0.5, 2.5) : (-2, 2);

    [Theory]
    [InlineData("Add")]
    [InlineData("Sub")]
    [InlineData("Mul")]
    [InlineData("Div")]
    [InlineData("Pow")]
    [InlineData("Maximum")]
    [InlineData("Minimum")]
    public void BinaryOp_BroadcastsStridedFloatInputs_MatchesReference(string name)
    {
        var (op, reference) = BinaryOps[name];
        var (lo, hi) = Range(name);
        var rng = new System.Random(name.GetHashCode() & 0xffff);
        foreach (var dtype in Samples.Floats)
            foreach (var (sa, sb) in Pairs)
                foreach (var la in Samples.Layouts)
                    foreach (var lb in new[] { Layout.Contiguous, Layout.Transposed, Layout.Expanded })
                    {
                        var a = Samples.Make(rng, sa, dtype, la, lo, hi);
                        var b = Samples.Make(rng, sb, dtype, lb, lo, hi);
                        var y = op(a.T, b.T);
                        Assert.Equal(dtype, y.DType);
                        Check.Close(Ref.Zip(a.R, b.R, reference), y, $"{name} {dtype} {Samples.Show(sa)} {la} with {Samples.Show(sb)} {lb}", transcendental: name == "Pow");
                    }
    }

    [Theory]
    [InlineData("Add")]
    [InlineData("Sub")]
    [InlineData("Mul")]
    [InlineData("Maximum")]
    [InlineData("Minimum")]
    public void BinaryOp_OnIntegers_IsExactAndKeepsDtype(string name)
    {
        var (op, reference) = BinaryOps[name];
        var rng = new System.Random(7);
        foreach (var dtype in new[] { DType.Int32, DType.Int64 })
            foreach (var (sa, sb) in Pairs)
                foreach (var layout in Samples.Layouts)
                {
                    var a = Samples.Make(rng, sa, dtype, layout);
                    var b = Samples.Make(rng, sb, dtype);
                    var y = op(a.T, b.T);
                    Assert.Equal(dtype, y.DType);
                    Check.Exact(Ref.Zip(a.R, b.R, reference), y, $"{name} {dtype} {Samples.Show(sa)} {layout} {Samples.Show(sb)}");
                }
    }

    [Fact]
    public void Pow_OnIntegers_RaisesExactly()
    {
        var rng = new System.Random(8);
        var a = Samples.Make(rng, [4, 5], DType.Int64, Layout.Contiguous, -3, 3);
        var e = Samples.Make(rng, [5], DType.Int64, Layout.Contiguous, 0, 0.8); // exponents 0..4
        var y = a.T.Pow(e.T);
        Assert.Equal(DType.Int64, y.DType);
        Check.Exact(Ref.Zip(a.R, e.R, Math.Pow), y);
    }

    [Fact]
    public void Div_OfIntegers_IsTrueDivisionInFloat32()
    {
        var a = Tensor.FromArray(new long[] { 7, -7, 1, 0 });
        var b = Tensor.FromArray(new long[] { 2, 2, 3, 5 });
        var y = a / b;
        Assert.Equal(DType.Float32, y.DType);
        Check.Close(Ref.Zip(new Ref([4], [7, -7, 1, 0]), new Ref([4], [2, 2, 3, 5]), (x, z) => x / z), y);
    }

    [Theory]
    [InlineData(DType.Float32)]
    [InlineData(DType.Float64)]
    public void BinaryOp_LargeInputs_TakeParallelPathAndMatchReference(DType dtype)
    {
        var rng = new System.Random(11);
        foreach (var layout in Samples.Layouts)
        {
            var a = Samples.Make(rng, Samples.Large, dtype, layout);
            var b = Samples.Make(rng, [Samples.Large[1]], dtype);
            var c = Samples.Make(rng, [1, 1], dtype);
            Check.Close(Ref.Zip(a.R, b.R, (x, y) => x * y), a.T * b.T, $"Mul {layout}");
            Check.Close(Ref.Zip(b.R, a.R, (x, y) => x - y), b.T - a.T, $"Sub {layout}");
            Check.Close(Ref.Zip(a.R, c.R, (x, y) => x + y), a.T + c.T, $"Add {layout}");
            Check.Close(a.R.Map(Math.Exp), a.T.Exp(), $"Exp {layout}", transcendental: true);
        }
    }

    [Fact]
    public void ScalarOperators_MatchReference()
    {
        var rng = new System.Random(12);
        foreach (var dtype in Samples.Floats)
        {
            var a = Samples.Make(rng, [3, 4], dtype, Layout.Transposed, 0.5, 2);
            Check.Close(a.R.Map(x => x + 1.5), a.T + 1.5);
            Check.Close(a.R.Map(x => 1.5 + x), 1.5 + a.T);
            Check.Close(a.R.Map(x => x - 0.25), a.T - 0.25);
            Check.Close(a.R.Map(x => 2 - x), 2 - a.T);
            Check.Close(a.R.Map(x => x * -3), a.T * -3);
            Check.Close(a.R.Map(x => x / 4), a.T / 4);
            Check.Close(a.R.Map(x => 3 / x), 3 / a.T);
            Check.Close(a.R.Map(x => x * x), a.T.Pow(2));
            Check.Close(a.R.Map(x => Math.Pow(x, 0.5)), a.T.Pow(0.5), transcendental: true);
            Check.Close(a.R.Map(x => -x), -a.T);
            Assert.Equal(dtype, (a.T * 2.5).DType);
        }
    }

    // Erf by its Maclaurin series 2/sqrt(pi) sum (-1)^n x^(2n+1) / (n! (2n+1)); accurate for |x| <= 3.
    static double Erf(double x)
    {
        double term = x, sum = x;
        for (int n = 1; n < 100; n++)
        {
            term *= -x * x / n;
            sum += term / (2 * n + 1);
        }
        return 2 / Math.Sqrt(Math.PI) * sum;
    }

    static double Sigmoid(double x) => 1 / (1 + Math.Exp(-x));

    static readonly Dictionary<string, (Func<Tensor, Tensor> Op, Func<double, double> Ref, double Low, double High)> UnaryOps = new()
    {
        ["Neg"] = (t => t.Neg(), x => -x, -2, 2),
        ["Abs"] = (t => t.Abs(), Math.Abs, -2, 2),
        ["Sign"] = (t => t.Sign(), x => Math.Sign(x), -2, 2),
        ["Exp"] = (t => t.Exp(), Math.Exp, -2, 2),
        ["Log"] = (t => t.Log(), Math.Log, 0.1, 3),
        ["Log1p"] = (t => t.Log1p(), x => Math.Log(1 + x), 0.1, 3),
        ["Sqrt"] = (t => t.Sqrt(), Math.Sqrt, 0.1, 3),
        ["Rsqrt"] = (t => t.Rsqrt(), x => 1 / Math.Sqrt(x), 0.1, 3),
        ["Sin"] = (t => t.Sin(), Math.Sin, -3, 3),
        ["Cos"] = (t => t.Cos(), Math.Cos, -3, 3),
        ["Tanh"] = (t => t.Tanh(), Math.Tanh, -3, 3),
        ["Sigmoid"] = (t => t.Sigmoid(), Sigmoid, -3, 3),
        ["Relu"] = (t => t.Relu(), x => Math.Max(x, 0), -2, 2),
        ["GeluErf"] = (t => t.Gelu(), x => 0.5 * x * (1 + Erf(x / Math.Sqrt(2))), -3, 3),
        ["GeluTanh"] = (t => t.Gelu(tanhApproximation: true), x => 0.5 * x * (1 + Math.Tanh(Math.Sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x))), -3, 3),
        ["Silu"] = (t => t.Silu(), x => x * Sigmoid(x), -3, 3),
        ["Softplus"] = (t => t.Softplus(), x => x > 20 ? x : Math.Log(1 + Math.Exp(x)), -30, 30),
        ["Square"] = (t => t.Square(), x => x * x, -2, 2),
        ["Reciprocal"] = (t => t.Reciprocal(), x => 1 / x, 0.2, 3),
        ["ClampBoth"] = (t => t.Clamp(-0.5, 0.75), x => Math.Min(Math.Max(x, -0.5), 0.75), -2, 2),
        ["ClampMin"] = (t => t.Clamp(min: 0.25), x => Math.Max(x, 0.25), -2, 2),
        ["ClampMax"] = (t => t.Clamp(max: -0.25), x => Math.Min(x, -0.25), -2, 2),
    };

    public static TheoryData<string> UnaryNames => new(UnaryOps.Keys);

    [Theory]
    [MemberData(nameof(UnaryNames))]
    public void UnaryOp_OnStridedFloatInputs_MatchesSystemMath(string name)
    {
        var (op, reference, lo, hi) = UnaryOps[name];
        var rng = new System.Random(name.Length * 31 + name[0]);
        foreach (var dtype in Samples.Floats)
            foreach (var shape in Samples.Shapes.Append(Samples.Large))
                foreach (var layout in Samples.Layouts)
                {
                    if (shape == Samples.Large && layout is Layout.Stepped or Layout.Expanded) continue;
                    var x = Samples.Make(rng, shape, dtype, layout, lo, hi);
                    var y = op(x.T);
                    Assert.Equal(dtype, y.DType);
                    Check.Close(x.R.Map(reference), y, $"{name} {dtype} {Samples.Show(shape)} {layout}", transcendental: true);
                }
    }

    [Theory]
    [InlineData(DType.Int32)]
    [InlineData(DType.Int64)]
    public void IntegerUnaryOps_StayIntegerAndExact(DType dtype)
    {
        var rng = new System.Random(13);
        foreach (var layout in Samples.Layouts)
        {
            var x = Samples.Make(rng, [3, 5], dtype, layout);
            Check.Exact(x.R.Map(v => -v), x.T.Neg());
            Check.Exact(x.R.Map(Math.Abs), x.T.Abs());
            Check.Exact(x.R.Map(v => Math.Sign(v)), x.T.Sign());
            Check.Exact(x.R.Map(v => Math.Max(v, 0)), x.T.Relu());
            Check.Exact(x.R.Map(v => v * v), x.T.Square());
            Check.Exact(x.R.Map(v => Math.Clamp(v, -3, 4)), x.T.Clamp(-3, 4));
            foreach (var y in new[] { x.T.Neg(), x.T.Abs(), x.T.Sign(), x.T.Relu(), x.T.Square(), x.T.Clamp(-3, 4) })
                Assert.Equal(dtype, y.DType);
        }
    }

    [Fact]
    public void TranscendentalOps_OnIntegers_ComputeInFloat32()
    {
        var x = Tensor.FromArray(new long[] { 1, 2, 3 });
        var y = x.Exp();
        Assert.Equal(DType.Float32, y.DType);
        Check.Close(new Ref([3], [1, 2, 3]).Map(Math.Exp), y, transcendental: true);
    }

    [Fact]
    public void Nan_PropagatesThroughMaximumMinimumAndClamp()
    {
        var a = Tensor.FromArray(new double[] { double.NaN, 1, 2 });
        var b = Tensor.FromArray(new double[] { 0, double.NaN, 1 });
        Check.Exact(new Ref([3], [double.NaN, double.NaN, 2]), a.Maximum(b));
        Check.Exact(new Ref([3], [double.NaN, double.NaN, 1]), a.Minimum(b));
        Check.Exact(new Ref([3], [double.NaN, 1, 1.5]), a.Clamp(0, 1.5));
        Check.Exact(new Ref([3], [double.NaN, 1, 2]), a.Relu());
    }

    static readonly (string Name, Func<Tensor, Tensor, Tensor> Op, Func<double, double, bool> Ref)[] Comparisons =
    [
        ("Eq", (a, b) => a.Eq(b), (x, y) => x == y),
        ("Ne", (a, b) => a.Ne(b), (x, y) => x != y),
        ("Lt", (a, b) => a < b, (x, y) => x < y),
        ("Le", (a, b) => a <= b, (x, y) => x <= y),
        ("Gt", (a, b) => a > b, (x, y) => x > y),
        ("Ge", (a, b) => a >= b, (x, y) => x >= y),
    ];

    [Fact]
    public void Comparisons_BroadcastAcrossDtypesAndGiveBool()
    {
        var rng = new System.Random(14);
        foreach (var (name, op, reference) in Comparisons)
            foreach (var (da, db) in new[] { (DType.Int64, DType.Int64), (DType.Int32, DType.Float64), (DType.Float32, DType.Float32), (DType.Bool, DType.Bool) })
                foreach (var (sa, sb) in Pairs)
                {
                    // Integer-valued floats make equality cases common.
                    var a = Samples.Make(rng, sa, da, Layout.Transposed);
                    var bv = Samples.Values(rng, Ref.Count(sb), DType.Int64).Select(v => da == DType.Bool ? Math.Abs(v) % 2 : v).ToArray();
                    var b = Samples.FromDoubles(bv, sb, db);
                    var y = op(a.T, b);
                    Assert.Equal(DType.Bool, y.DType);
                    Check.Exact(Ref.Zip(a.R, new Ref(sb, bv), (x, z) => reference(x, z) ? 1 : 0), y, $"{name} {da} {db} {Samples.Show(sa)} {Samples.Show(sb)}");
                }
    }

    [Fact]
    public void ComparisonWithScalar_MatchesReference()
    {
        var rng = new System.Random(15);
        var x = Samples.Make(rng, [4, 6], DType.Int32, Layout.Stepped);
        Check.Exact(x.R.Map(v => v > 2 ? 1 : 0), x.T > 2);
        Check.Exact(x.R.Map(v => v <= 2.5 ? 1 : 0), x.T <= 2.5);
        Check.Exact(x.R.Map(v => v == 0 ? 1 : 0), x.T.Eq(0));
        Check.Exact(x.R.Map(v => v != 1 ? 1 : 0), x.T.Ne(1));
    }

    [Fact]
    public void Where_BroadcastsAllThreeOperands()
    {
        var rng = new System.Random(16);
        foreach (var dtype in new[] { DType.Float32, DType.Float64, DType.Int64, DType.Bool })
            foreach (var layout in Samples.Layouts)
            {
                var c = Samples.Make(rng, [3, 1, 5], DType.Bool, layout);
                var a = Samples.Make(rng, [4, 1], dtype, layout);
                var b = Samples.Make(rng, [5], dtype);
                var y = Tensor.Where(c.T, a.T, b.T);
                Assert.Equal(dtype, y.DType);
                Check.Exact(Ref.Where(c.R, a.R, b.R), y, $"{dtype} {layout}");
                Check.Exact(Ref.Where(c.R, a.R, Ref.Scalar(1)), Tensor.Where(c.T, a.T, 1), $"{dtype} {layout} scalar");
            }
    }

    [Fact]
    public void Where_PromotesMixedDtypes()
    {
        var c = Tensor.FromArray(new[] { true, false });
        var y = Tensor.Where(c, Tensor.FromArray(new long[] { 1, 2 }), Tensor.FromArray(new double[] { 0.5, 0.25 }));
        Assert.Equal(DType.Float64, y.DType);
        Check.Exact(new Ref([2], [1, 0.25]), y);
    }

    [Fact]
    public void MaskedFill_WritesValueWhereMaskIsTrue()
    {
        var rng = new System.Random(17);
        foreach (var dtype in new[] { DType.Float32, DType.Float64, DType.Int32 })
        {
            var x = Samples.Make(rng, [3, 4], dtype, Layout.Transposed);
            var mask = Samples.Make(rng, [4], DType.Bool);
            var y = x.T.MaskedFill(mask.T, -7);
            Assert.Equal(dtype, y.DType);
            Check.Exact(Ref.Where(mask.R, Ref.Scalar(-7), x.R), y);
        }
        var scores = Samples.Make(rng, [2, 4, 4], DType.Float32);
        var causal = Tensor.Ones([4, 4], DType.Bool).Triu(1);
        var masked = scores.T.MaskedFill(causal, double.NegativeInfinity);
        var causalRef = Ref.Build([4, 4], idx => idx[1] - idx[0] >= 1 ? 1 : 0);
        Check.Exact(Ref.Where(causalRef, Ref.Scalar(double.NegativeInfinity), scores.R), masked);
    }

    [Fact]
    public void LogicalOps_MatchTruthTables()
    {
        var rng = new System.Random(18);
        var a = Samples.Make(rng, [3, 4], DType.Bool, Layout.Transposed);
        var b = Samples.Make(rng, [4], DType.Bool);
        Check.Exact(Ref.Zip(a.R, b.R, (x, y) => x != 0 && y != 0 ? 1 : 0), a.T & b.T);
        Check.Exact(Ref.Zip(a.R, b.R, (x, y) => x != 0 || y != 0 ? 1 : 0), a.T | b.T);
        Check.Exact(a.R.Map(x => x != 0 ? 0 : 1), !a.T);
        var big = Samples.Make(rng, Samples.Large, DType.Bool, Layout.Transposed);
        Check.Exact(big.R.Map(x => x != 0 ? 0 : 1), big.T.LogicalNot());
        Assert.Equal(DType.Bool, (a.T & b.T).DType);
    }
}
