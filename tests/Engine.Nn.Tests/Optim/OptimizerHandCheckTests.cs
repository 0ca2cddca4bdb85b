using MathNet.Numerics.LinearAlgebra;
using Xunit;

namespace Engine.Nn.Tests.Optim;

/// <summary>
/// Hand-checked cases and the spec's reduction oracles (structure-and-optimizers.md §3.1 "Oracles"): Newton–Schulz
/// keeps the singular vectors and maps singular values into the quintic's band (MathNet's SVD as the independent
/// oracle), Lion moves every entry by exactly ±η, Cautious equals its optimiser when every sign agrees and masks by hand
/// otherwise, and NAdamW with β1 = 0, MARS with γ = 0 and Adam-mini with one-element blocks each equal AdamW.
/// </summary>
public class OptimizerHandCheckTests
{
    static Matrix<double> Orthonormal(int n, int seed) =>
        Matrix<double>.Build.Random(n, n, new MathNet.Numerics.Distributions.Normal(new Random(seed))).QR().Q;

    static Tensor ToTensor(Matrix<double> m) => Tensor.FromArray(m.ToRowArrays().SelectMany(r => r).ToArray(), [m.RowCount, m.ColumnCount]);

    static Matrix<double> ToMatrix(Tensor t) => Matrix<double>.Build.DenseOfRowMajor(t.Shape[0], t.Shape[1], t.ToDoubleArray());

    [Theory]
    [InlineData(8, 5)]
    [InlineData(5, 8)]
    [InlineData(6, 6)]
    public void NewtonSchulz_KeepsTheSingularVectors_AndMapsSingularValuesIntoTheQuinticBand(int rows, int cols)
    {
        // G = U S Vᵀ with normalised singular values spread over [0.01, 1] (‖G‖_F scales them all alike).
        int k = Math.Min(rows, cols);
        var s = Enumerable.Range(0, k).Select(i => Math.Pow(0.01, (double)i / (k - 1))).ToArray();
        var u = Orthonormal(rows, 1).SubMatrix(0, rows, 0, k);
        var v = Orthonormal(cols, 2).SubMatrix(0, cols, 0, k);
        var g = u * Matrix<double>.Build.DiagonalOfDiagonalArray(s) * v.Transpose() * 3.7;
        var o = ToMatrix(NewtonSchulz.Orthogonalize(ToTensor(g)));
        var core = u.Transpose() * o * v;
        for (int i = 0; i < k; i++)
            for (int j = 0; j < k; j++)
                if (i != j) Assert.True(Math.Abs(core[i, j]) < 1e-5, $"off-diagonal ({i},{j}) = {core[i, j]}");
        // MathNet's SVD of the output: every singular value in the band the spec measured, [0.68, 1.14].
        var singular = o.Svd(computeVectors: false).S.ToArray();
        Assert.All(singular, x => Assert.InRange(x, 0.68, 1.14));
        // And not exactly orthogonal: the quintic trades accuracy for speed (a test that would fail on an exact polar factor).
        Assert.True(singular.Max() - singular.Min() > 0.05, $"singular values {string.Join(", ", singular)}");
    }

    [Fact]
    public void NewtonSchulz_RefusesATensorThatIsNotAMatrix()
    {
        var e = Assert.Throws<ArgumentException>(() => NewtonSchulz.Orthogonalize(Tensor.Zeros([2, 2, 2], DType.Float64)));
        Assert.Contains("[2,2,2]", e.Message);
    }

    [Fact]
    public void Lion_MovesEveryEntryByExactlyTheLearningRate_BeforeDecay()
    {
        var start = new[] { 0.3, -1.2, 2.0, 0.7, -0.1, 0.05 };
        var p = Tensor.FromArray((double[])start.Clone(), [2, 3]).RequireGrad();
        var q = Tensor.FromArray((double[])start.Clone(), [2, 3]).RequireGrad();
        var plain = new Lion([new ParamGroup([p], 0.003)]);
        var decayed = new Lion([new ParamGroup([q], 0.003, 0.5)]);
        var rng = new Random(3);
        for (int step = 0; step < 4; step++)
        {
            var before = p.ToDoubleArray();
            var beforeQ = q.ToDoubleArray();
            var grad = Enumerable.Range(0, 6).Select(_ => rng.NextDouble() - 0.5).ToArray();
            p.Grad = Tensor.FromArray(grad, [2, 3]);
            q.Grad = Tensor.FromArray(grad, [2, 3]);
            plain.Step();
            decayed.Step();
            var after = p.ToDoubleArray();
            var afterQ = q.ToDoubleArray();
            for (int i = 0; i < 6; i++)
            {
                Assert.Equal(0.003, Math.Abs(after[i] - before[i]), 15);
                // With decay: θ(1 − ηλ) ∓ η, i.e. the same ±η step plus ηλθ.
                double sign = Math.Sign(before[i] - after[i]);
                Assert.Equal(beforeQ[i] * (1 - 0.003 * 0.5) - 0.003 * sign, afterQ[i], 14);
            }
        }
    }

    static (Tensor P, double[] Start) Param(params double[] values) => (Tensor.FromArray((double[])values.Clone()).RequireGrad(), values);

    [Fact]
    public void Cautious_WhenEverySignAgrees_EqualsTheWrappedOptimizer()
    {
        // Step 1 of AdamW: u = g/(|g|+ε) has g's sign everywhere, so the mask keeps all (mean 1).
        var (a, _) = Param(0.5, -1.5, 2.0, 0.1);
        var (b, _) = Param(0.5, -1.5, 2.0, 0.1);
        var plain = new AdamW([new ParamGroup([a], 0.01, 0.1)], 0.95, 0.95);
        var cautious = new Cautious(new AdamW([new ParamGroup([b], 0.01, 0.1)], 0.95, 0.95));
        var grad = new[] { 0.3, -0.2, 0.7, -0.05 };
        a.Grad = Tensor.FromArray(grad);
        b.Grad = Tensor.FromArray(grad);
        plain.Step();
        cautious.Step();
        var expected = a.ToDoubleArray();
        var actual = b.ToDoubleArray();
        // Equal up to the mask's 1/(1 + ε) with ε = 1e-8 (a step of ~1e-2 moves by ~1e-10).
        AssertClose(expected, actual, 1e-9);
    }

    [Fact]
    public void Cautious_MasksTheDisagreeingEntry_AndRescalesTheRestByTheKeptFraction()
    {
        // Lion(β1 0.9, β2 0.95). Step 1: u = sign(0.1 g1) = sign(g1), all agree. Step 2: m = 0.05 g1, so
        // c = 0.045 g1 + 0.1 g2; for entry 0, c = 0.045 − 0.001 > 0 while g2 < 0: masked. Kept 3 of 4.
        var (p, start) = Param(1, 1, 1, 1);
        var optimizer = new Cautious(new Lion([new ParamGroup([p], 0.1)], 0.9, 0.95));
        p.Grad = Tensor.FromArray(new[] { 1.0, -1, 1, 1 });
        optimizer.Step();
        var afterOne = p.ToDoubleArray();
        double step1 = 0.1 / (1 + 1e-8);
        AssertClose([1 - step1, 1 + step1, 1 - step1, 1 - step1], afterOne, 1e-14);
        p.Grad = Tensor.FromArray(new[] { -0.01, -1, 1, 1 });
        optimizer.Step();
        var afterTwo = p.ToDoubleArray();
        double scale = 1 / (0.75 + 1e-8);
        Assert.Equal(afterOne[0], afterTwo[0], 15);
        Assert.Equal(afterOne[1] + 0.1 * scale, afterTwo[1], 12);
        Assert.Equal(afterOne[2] - 0.1 * scale, afterTwo[2], 12);
        Assert.Equal(afterOne[3] - 0.1 * scale, afterTwo[3], 12);
        Assert.Equal(4, start.Length);
    }

    [Fact]
    public void Cautious_OfAnOptimizerWithoutADirection_IsRefusedByName()
    {
        var (p, _) = Param(1, 2);
        var e = Assert.Throws<ArgumentException>(() => new Cautious(new Sgd([p], 0.1)));
        Assert.Contains("Sgd", e.Message);
    }

    // Runs 5 steps of a parameter-dependent gradient; returns the parameters.
    static double[] Run(Func<Tensor, Optimizer> build, int[] shape)
    {
        var p = Tensor.FromArray(Enumerable.Range(0, shape.Aggregate(1, (x, y) => x * y)).Select(i => Math.Cos(1.1 * i) * 0.8).ToArray(), shape).RequireGrad();
        var optimizer = build(p);
        for (int t = 0; t < 5; t++)
        {
            p.Grad = Tensor.FromArray(p.ToDoubleArray().Select((v, i) => v * v - 0.3 + 0.1 * Math.Sin(i + 2 * t)).ToArray(), shape);
            optimizer.Step();
        }
        return p.ToDoubleArray();
    }

    static void AssertClose(double[] expected, double[] actual, double tolerance)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++) Assert.True(Math.Abs(expected[i] - actual[i]) < tolerance, $"[{i}] {actual[i]} vs {expected[i]}");
    }

    static double[] AdamW(int[] shape, double beta1 = 0.9) => Run(p => new AdamW([new ParamGroup([p], 0.01, 0.1)], beta1, 0.95), shape);

    [Fact]
    public void NAdamW_WithBeta1Zero_IsAdamW() =>
        AssertClose(AdamW([3, 2], beta1: 0), Run(p => new NAdamW([new ParamGroup([p], 0.01, 0.1)], 0, 0.95), [3, 2]), 1e-12);

    [Fact]
    public void NAdamW_WithMomentum_DiffersFromAdamW()
    {
        var nadam = Run(p => new NAdamW([new ParamGroup([p], 0.01, 0.1)], 0.9, 0.95), [3, 2]);
        Assert.True(nadam.Zip(AdamW([3, 2])).Max(x => Math.Abs(x.First - x.Second)) > 1e-4);
    }

    [Fact]
    public void Mars_WithGammaZeroAndNoClip_IsAdamW() =>
        AssertClose(AdamW([3, 2]), Run(p => new Mars([new ParamGroup([p], 0.01, 0.1)], 0.9, 0.95, gamma: 0, maxCorrectedNorm: null), [3, 2]), 1e-12);

    [Theory]
    [InlineData(new[] { 5, 1 })]
    [InlineData(new[] { 5 })]
    public void AdamMini_WithOneElementBlocks_IsAdamW(int[] shape) =>
        AssertClose(AdamW(shape), Run(p => new AdamMini([new ParamGroup([p], 0.01, 0.1)], beta1: 0.9, beta2: 0.95), shape), 1e-12);

    [Fact]
    public void AdamMini_RefusesABlockPartitionThatDoesNotCoverTheRows()
    {
        var p = Tensor.Zeros([4, 3], DType.Float64).RequireGrad();
        var e = Assert.Throws<ArgumentException>(() => new AdamMini([new ParamGroup([p], 0.01)], new Dictionary<Tensor, int[]>(ReferenceEqualityComparer.Instance) { [p] = [2, 1] }));
        Assert.Contains("[2, 1]", e.Message);
        Assert.Contains("[4,3]", e.Message);
    }

    [Fact]
    public void AdamMini_KeepsOneSecondMomentPerBlock_AndLoadsOnlyThatShape()
    {
        var p = Tensor.Zeros([4, 3], DType.Float64).RequireGrad();
        var blocks = new Dictionary<Tensor, int[]>(ReferenceEqualityComparer.Instance) { [p] = [3, 1] };
        var optimizer = new AdamMini([new ParamGroup([p], 0.01)], blocks);
        p.Grad = Tensor.FromArray(Enumerable.Range(0, 12).Select(i => (double)i).ToArray(), [4, 3]);
        optimizer.Step();
        var v = optimizer.StateOf(p, "exp_avg_sq")!;
        // (1 − β2)·mean(g²) per block: rows 0..2 hold 0..8, row 3 holds 9..11.
        double first = Enumerable.Range(0, 9).Average(i => (double)i * i), second = Enumerable.Range(9, 3).Average(i => (double)i * i);
        AssertClose([0.05 * first, 0.05 * second], v.ToDoubleArray(), 1e-12);
        var state = optimizer.StateDict();
        var fresh = new AdamMini([new ParamGroup([p], 0.01)], blocks);
        fresh.LoadStateDict(state);
        state["0.0.exp_avg_sq"] = Tensor.Zeros([4, 3], DType.Float64);
        var e = Assert.Throws<ArgumentException>(() => fresh.LoadStateDict(state));
        Assert.Contains("exp_avg_sq", e.Message);
    }

    [Fact]
    public void Muon_RefusesAVectorInAMatrixGroup()
    {
        var v = Tensor.Zeros([3], DType.Float64).RequireGrad();
        var e = Assert.Throws<ArgumentException>(() => new Muon([new ParamGroup([v], 0.02, name: "hidden")], []));
        Assert.Contains("'hidden'", e.Message);
        Assert.Contains("[3]", e.Message);
    }

    [Fact]
    public void Scion_MovesSignGroupEntriesByExactlyTheirRate_AndOrthogonalisesTheMatrices()
    {
        var w = Tensor.FromArray(new[] { 1.0, 0.2, -0.3, 0.5, 0.8, -1.1 }, [3, 2]).RequireGrad();
        var b = Tensor.FromArray(new[] { 0.4, -0.6 }).RequireGrad();
        var optimizer = new Scion([new ParamGroup([w], 0.02)], [new ParamGroup([b], 0.004)], 0.98, 0.95);
        var wBefore = ToMatrix(w.Detach().Clone());
        var bBefore = b.ToDoubleArray();
        w.Grad = Tensor.FromArray(new[] { 0.3, -0.1, 0.7, 0.2, -0.4, 0.9 }, [3, 2]);
        b.Grad = Tensor.FromArray(new[] { -0.2, 0.05 });
        optimizer.Step();
        Assert.Equal(new[] { bBefore[0] + 0.004, bBefore[1] - 0.004 }, b.ToDoubleArray().Select(x => Math.Round(x, 15)).ToArray(), (x, y) => Math.Abs(x - y) < 1e-15);
        // Step 1: m = (1−μ) g, so u = NS10(g)·√max(1, 3/2); its singular values (÷ the scale) lie in the quintic's band.
        var u = (wBefore - ToMatrix(w)) / 0.02 / Math.Sqrt(1.5);
        Assert.All(u.Svd(computeVectors: false).S.ToArray(), x => Assert.InRange(x, 0.68, 1.14));
    }
}
