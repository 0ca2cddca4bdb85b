using MathNet.Numerics.LinearAlgebra;
using Xunit;

namespace Engine.Nn.Tests;

/// <summary>
/// The local interaction basis (spec seeds-remaining.md §9b) against its oracles on a small ReLU MLP in Float64
/// (4 → 6 → 5 → 3): a duplicated or always-zero hidden neuron leaves every layer's LIB dimension (and Λ) unchanged,
/// reparameterising a layer (f → f Q, the next layer absorbing Q⁻¹) gives the same coordinates up to sign, C C⁺ is a
/// projector, and Λ of the last hidden layer equals the non-zero eigenvalues of M′G computed independently with MathNet.
/// </summary>
public class LocalInteractionBasisTests
{
    sealed record Net(double[,] W1, double[] B1, double[,] W2, double[] B2, double[,] W3, double[] B3);

    static double[,] RandomMatrix(int rows, int cols, Generator g)
    {
        var a = Tensor.Randn([rows, cols], dtype: DType.Float64, generator: g).ToArray<double>();
        var m = new double[rows, cols];
        for (int i = 0; i < rows; i++) for (int j = 0; j < cols; j++) m[i, j] = a[i * cols + j];
        return m;
    }

    static double[] RandomVector(int n, Generator g) => Tensor.Randn([n], 0, 0.5, DType.Float64, g).ToArray<double>();

    static Net RandomNet(ulong seed)
    {
        var g = new Generator(seed);
        return new Net(RandomMatrix(6, 4, g), RandomVector(6, g), RandomMatrix(5, 6, g), RandomVector(5, g), RandomMatrix(3, 5, g), RandomVector(3, g));
    }

    static Tensor T(double[,] m) => Tensor.FromArray(m);
    static Tensor T(double[] v) => Tensor.FromArray(v, [v.Length]);

    static Tensor Inputs(int n = 400) => Tensor.Randn([n, 4], dtype: DType.Float64, generator: new Generator(99));

    static IReadOnlyList<InteractionBasisLayer> Lib(Net net, Tensor inputs) => LocalInteractionBasis.Compute(inputs,
    [
        LocalInteractionBasis.LinearMap(T(net.W1), T(net.B1), z => z.Relu()),
        LocalInteractionBasis.LinearMap(T(net.W2), T(net.B2), z => z.Relu()),
        LocalInteractionBasis.LinearMap(T(net.W3), T(net.B3), null),
    ]);

    // Hidden layer 1 gets one more neuron: `incoming`/`bias` feed it, `outgoing` reads it; `halveNeuron0` splits neuron 0's outgoing weights.
    static Net WithExtraNeuron(Net net, double[] incoming, double bias, double[] outgoing, bool halveNeuron0)
    {
        var w1 = new double[7, 4];
        var b1 = new double[7];
        var w2 = new double[5, 7];
        for (int i = 0; i < 6; i++) { for (int j = 0; j < 4; j++) w1[i, j] = net.W1[i, j]; b1[i] = net.B1[i]; }
        for (int j = 0; j < 4; j++) w1[6, j] = incoming[j];
        b1[6] = bias;
        for (int i = 0; i < 5; i++)
        {
            for (int j = 0; j < 6; j++) w2[i, j] = net.W2[i, j];
            if (halveNeuron0) w2[i, 0] /= 2;
            w2[i, 6] = outgoing[i];
        }
        return net with { W1 = w1, B1 = b1, W2 = w2 };
    }

    [Fact]
    public void DuplicatedNeuron_LeavesLibDimensionAndLambdaUnchanged()
    {
        var net = RandomNet(1);
        var outgoing = Enumerable.Range(0, 5).Select(i => net.W2[i, 0] / 2).ToArray();
        var dup = WithExtraNeuron(net, Enumerable.Range(0, 4).Select(j => net.W1[0, j]).ToArray(), net.B1[0], outgoing, halveNeuron0: true);
        var before = Lib(net, Inputs());
        var after = Lib(dup, Inputs());
        Assert.Equal(before.Select(l => l.Dimension), after.Select(l => l.Dimension));
        Assert.Equal(before[1].Width + 1, after[1].Width);
        for (int l = 0; l < before.Count; l++) AssertClose(before[l].Lambda.ToArray<double>(), after[l].Lambda.ToArray<double>(), 1e-7, $"Λ of layer {l}");
    }

    [Fact]
    public void AlwaysZeroNeuron_LeavesLibDimensionUnchanged()
    {
        var net = RandomNet(2);
        var dead = WithExtraNeuron(net, [0, 0, 0, 0], -1, [0.7, -1.2, 0.3, 2.0, -0.4], halveNeuron0: false);
        var before = Lib(net, Inputs());
        var after = Lib(dead, Inputs());
        Assert.Equal(before.Select(l => l.Dimension), after.Select(l => l.Dimension));
        for (int l = 0; l < before.Count; l++) AssertClose(before[l].Lambda.ToArray<double>(), after[l].Lambda.ToArray<double>(), 1e-7, $"Λ of layer {l}");
    }

    [Fact]
    public void GeneralReparameterisationOfTheInput_GivesSameCoordinatesUpToSign()
    {
        var net = RandomNet(3);
        var g = new Generator(4);
        var q = Tensor.Randn([4, 4], dtype: DType.Float64, generator: g) + Tensor.Eye(4, dtype: DType.Float64) * 2;
        // x → x Q; the first layer absorbs Q⁻¹: W1' = W1 Q⁻ᵀ.
        var w1 = T(net.W1).MatMul(Linalg.Inverse(q).T).ToArray<double>();
        var reparam = net with { W1 = To2D(w1, 6, 4) };
        var x = Inputs();
        var before = Lib(net, x);
        var after = Lib(reparam, x.MatMul(q));
        AssertSameUpToSign(before[0].Coordinates(LocalInteractionBasis.WithConstant(x)), after[0].Coordinates(LocalInteractionBasis.WithConstant(x.MatMul(q))), "f̂_0");
        AssertClose(before[0].Lambda.ToArray<double>(), after[0].Lambda.ToArray<double>(), 1e-8, "Λ_0");
    }

    [Fact]
    public void PermutedAndRescaledHiddenNeurons_GiveSameCoordinatesUpToSign()
    {
        // ReLU is positively homogeneous: f_1 → f_1 P S is made by the first layer (rows permuted and scaled), and the
        // second layer absorbs (P S)⁻¹.
        var net = RandomNet(5);
        int[] perm = [3, 0, 5, 1, 4, 2];
        double[] scale = [0.5, 2, 3, 0.25, 1.5, 4];
        var w1 = new double[6, 4];
        var b1 = new double[6];
        var w2 = new double[5, 6];
        for (int j = 0; j < 6; j++)
        {
            for (int k = 0; k < 4; k++) w1[j, k] = scale[j] * net.W1[perm[j], k];
            b1[j] = scale[j] * net.B1[perm[j]];
            for (int i = 0; i < 5; i++) w2[i, j] = net.W2[i, perm[j]] / scale[j];
        }
        var x = Inputs();
        var before = Lib(net, x);
        var after = Lib(net with { W1 = w1, B1 = b1, W2 = w2 }, x);
        var f1 = LocalInteractionBasis.WithConstant(x.MatMul(T(net.W1).T).Add(T(net.B1)).Relu());
        var f1Q = LocalInteractionBasis.WithConstant(x.MatMul(T(w1).T).Add(T(b1)).Relu());
        AssertSameUpToSign(before[1].Coordinates(f1), after[1].Coordinates(f1Q), "f̂_1");
    }

    [Fact]
    public void CTimesCPinv_IsAProjector()
    {
        var lib = Lib(RandomNet(6), Inputs());
        foreach (var layer in lib)
        {
            var p = layer.C.MatMul(layer.CPinv);
            AssertClose(p.ToArray<double>(), p.MatMul(p).ToArray<double>(), 1e-9, "(C C⁺)²");
            AssertClose(Tensor.Eye(layer.Dimension, dtype: DType.Float64).ToArray<double>(), layer.CPinv.MatMul(layer.C).ToArray<double>(), 1e-9, "C⁺ C");
        }
        Assert.True(lib[^1].Dimension == 3 && lib[^1].Width == 3, "the output layer is the plain eigenbasis of its 3 logits");
    }

    [Fact]
    public void LambdaOfLastHiddenLayer_EqualsNonzeroEigenvaluesOfMPrimeG()
    {
        // Independent of the engine's code path: f_2 by hand, G = E[f fᵀ], M′ = W3ᵀ U Uᵀ W3 = W3ᵀ W3 (bias folded,
        // U orthogonal) and the non-zero eigenvalues of M = R⁺ M′ R⁺ᵀ are those of M′ G.
        var net = RandomNet(7);
        var x = Inputs();
        var lib = Lib(net, x);
        var f1 = x.MatMul(T(net.W1).T).Add(T(net.B1)).Relu();
        var f2 = LocalInteractionBasis.WithConstant(f1.MatMul(T(net.W2).T).Add(T(net.B2)).Relu());
        var rows = f2.ToArray<double>();
        int n = f2.Size(0), d = 6;
        var f = Matrix<double>.Build.DenseOfRowMajor(n, d, rows);
        var gram = f.TransposeThisAndMultiply(f) / n;
        var w3 = Matrix<double>.Build.Dense(3, d, (i, j) => j < 5 ? net.W3[i, j] : net.B3[i]);
        var mPrime = w3.TransposeThisAndMultiply(w3);
        var eig = (mPrime * gram).Evd().EigenValues.Select(c => c.Real).Where(v => v > 1e-8).OrderByDescending(v => v).ToArray();
        AssertClose(eig, lib[2].Lambda.ToArray<double>(), 1e-8, "Λ_2");
    }

    [Fact]
    public void BadInput_ThrowsNamedErrors()
    {
        Assert.Contains("rows [N, d]", Assert.Throws<ArgumentException>(() => LocalInteractionBasis.Compute(Tensor.Zeros([3], DType.Float64), [f => f])).Message);
        var map = LocalInteractionBasis.LinearMap(Tensor.Zeros([2, 5], DType.Float64), null, null);
        Assert.Contains("LinearMap", Assert.Throws<ArgumentException>(() => LocalInteractionBasis.Compute(Inputs(10), [map])).Message);
    }

    static double[,] To2D(double[] a, int rows, int cols)
    {
        var m = new double[rows, cols];
        for (int i = 0; i < rows; i++) for (int j = 0; j < cols; j++) m[i, j] = a[i * cols + j];
        return m;
    }

    static void AssertSameUpToSign(Tensor expected, Tensor actual, string what)
    {
        Assert.Equal(expected.Shape, actual.Shape);
        int n = expected.Size(0), k = expected.Size(1);
        var e = expected.ToArray<double>();
        var a = actual.ToArray<double>();
        double scale = e.Max(Math.Abs);
        for (int j = 0; j < k; j++)
        {
            double dot = 0;
            for (int i = 0; i < n; i++) dot += e[i * k + j] * a[i * k + j];
            double sign = Math.Sign(dot);
            for (int i = 0; i < n; i++)
                if (Math.Abs(e[i * k + j] - sign * a[i * k + j]) > 1e-7 * scale)
                    Assert.Fail($"{what}: column {j} differs at row {i}: {e[i * k + j]:G10} vs {sign * a[i * k + j]:G10}");
        }
    }
}
