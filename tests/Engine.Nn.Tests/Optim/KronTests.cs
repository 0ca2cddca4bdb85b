using MathNet.Numerics.LinearAlgebra;
using Xunit;

namespace Engine.Nn.Tests.Optim;

/// <summary>
/// Hand-checked cases of <see cref="Kron"/> (structure-and-optimizers.md §3.1 and its oracles, levanter kron.py): the
/// factors stay upper triangular and their preconditioner Q1ᵀQ1 symmetric positive definite (MathNet's eigenvalues
/// as the oracle); with Kronecker-structured Gaussian gradients Σ1⊗Σ2 it tends to Σ1^{−1/2} up to scale; levanter's
/// update counter gives the schedule computed by hand; the direction is clipped to block RMS 1.1; the probes are
/// reproducible from the seed.
/// </summary>
public class KronTests
{
    static Matrix<double> ToMatrix(Tensor t) => Matrix<double>.Build.DenseOfRowMajor(t.Shape[0], t.Shape[1], t.ToDoubleArray());

    static Tensor Gaussian(Random rng, int rows, int cols) =>
        Tensor.FromArray(Enumerable.Range(0, rows * cols).Select(_ => Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble())).ToArray(), [rows, cols]);

    [Fact]
    public void Factors_StayUpperTriangular_AndThePreconditionerSymmetricPositiveDefinite()
    {
        var rng = new Random(4);
        var p = Tensor.Zeros([4, 3], DType.Float64).RequireGrad();
        var kron = new Kron([new ParamGroup([p], 0.01)], preconditionerLr: 0.5, flatStart: 100, normalizeGrads: false, seed: 7);
        for (int t = 0; t < 60; t++)
        {
            p.Grad = Gaussian(rng, 4, 3) * (1 + 5 * (t % 3));
            kron.Step();
        }
        foreach (var slot in new[] { "Q0", "Q1" })
        {
            var q = ToMatrix(kron.StateOf(p, slot)!);
            for (int i = 0; i < q.RowCount; i++)
                for (int j = 0; j < i; j++) Assert.Equal(0.0, q[i, j]);
            var precondition = q.Transpose() * q;
            Assert.True((precondition - precondition.Transpose()).Enumerate().Max(Math.Abs) < 1e-12);
            var eigenvalues = precondition.Evd(Symmetricity.Symmetric).EigenValues.Select(c => c.Real).ToArray();
            Assert.True(eigenvalues.Min() > 0, $"{slot}: eigenvalues {string.Join(", ", eigenvalues)}");
            Assert.True(Math.Abs(eigenvalues.Max() / eigenvalues.Min() - 1) > 0.01, $"{slot} moved away from the identity");
        }
    }

    [Fact]
    public void KroneckerGaussianGradients_DriveThePreconditionerTowardsSigmaToTheMinusHalf()
    {
        // G = C1 Z C2ᵀ, Z iid N(0,1): cov(vec G) = Σ1⊗Σ2 with Σi = Ci Ciᵀ. PSGD's fixed point is P ∝ Σ^{−1/2}, so
        // Q1ᵀQ1 · Σ1^{1/2} should be a multiple of the identity (the scale splits between the factors). With these fixed
        // seeds the deviation is 0.12 (finite preconditioner rate); it starts at > 0.5.
        var c1 = Matrix<double>.Build.DenseOfArray(new[,] { { 2.0, 0, 0 }, { 0.5, 1.0, 0 }, { -0.3, 0.2, 0.4 } });
        var c2 = Matrix<double>.Build.DenseOfArray(new[,] { { 1.0, 0 }, { 0.6, 0.3 } });
        var (t1, t2) = (Tensor.FromArray(c1.ToRowMajorArray(), [3, 3]), Tensor.FromArray(c2.ToRowMajorArray(), [2, 2]));
        var rng = new Random(11);
        var p = Tensor.Zeros([3, 2], DType.Float64).RequireGrad();
        var kron = new Kron([new ParamGroup([p], 1e-9)], beta1: 0, preconditionerLr: 0.02, flatStart: 100000, normalizeGrads: false, seed: 3);
        for (int t = 0; t < 1500; t++)
        {
            p.Grad = t1.MatMul(Gaussian(rng, 3, 2)).MatMul(t2.T);
            kron.Step();
        }
        var q = ToMatrix(kron.StateOf(p, "Q0")!);
        var sigma = c1 * c1.Transpose();
        var evd = sigma.Evd(Symmetricity.Symmetric);
        var root = evd.EigenVectors * Matrix<double>.Build.DiagonalOfDiagonalVector(evd.EigenValues.Map(c => Math.Sqrt(c.Real))) * evd.EigenVectors.Transpose();
        var product = q.Transpose() * q * root;
        double scale = product.Diagonal().Average();
        var deviation = (product / scale - Matrix<double>.Build.DenseIdentity(3)).Enumerate().Max(Math.Abs);
        Assert.True(deviation < 0.2, $"Q1ᵀQ1·Σ1^(1/2)/scale deviates from I by {deviation}");
        // Against the start (P = I): I·Σ1^(1/2) is far from a multiple of I, so the test can fail.
        var start = root / root.Diagonal().Average() - Matrix<double>.Build.DenseIdentity(3);
        Assert.True(start.Enumerate().Max(Math.Abs) > 0.5);
    }

    [Fact]
    public void Schedule_IsLevantersCounter_OnTheProbabilityAnneal()
    {
        var p = Tensor.Zeros([2], DType.Float64).RequireGrad();
        var kron = new Kron([new ParamGroup([p], 0.01)], minUpdateProbability: 0.05, flatStart: 500, probabilityDecay: 0.001, balanceEvery: 100);
        Assert.All(Enumerable.Range(1, 500), t => Assert.True(kron.Schedule(t).Update));
        // p(501) = e^{−0.001}: the counter (1) is below 1/p, so 501 waits; 502 updates.
        Assert.False(kron.Schedule(501).Update);
        Assert.True(kron.Schedule(502).Update);
        // Past t = 500 + ln(20)/0.001 ≈ 3496, p = 0.05: exactly one update every 20 steps.
        Assert.Equal(10, Enumerable.Range(4001, 200).Count(t => kron.Schedule(t).Update));
        // Balancing: the 100th update is step 100.
        Assert.True(kron.Schedule(100).Balance);
        Assert.False(kron.Schedule(99).Balance);
    }

    [Fact]
    public void Direction_IsClippedToBlockRms()
    {
        double Rms(double scale, double initScale)
        {
            var p = Tensor.Zeros([3, 4], DType.Float64).RequireGrad();
            var kron = new Kron([new ParamGroup([p], 1.0)], beta1: 0, normalizeGrads: false, initScale: initScale);
            p.Grad = Tensor.FromArray(Enumerable.Range(0, 12).Select(i => scale * Math.Sin(i + 1.0)).ToArray(), [3, 4]);
            kron.Step();
            return Math.Sqrt(p.ToDoubleArray().Average(x => x * x));
        }
        Assert.Equal(1.1, Rms(1.0, 1e4), 12);
        Assert.InRange(Rms(0.001, 1.0), 1e-6, 1.0);
    }

    [Fact]
    public void Probes_AreReproducibleFromTheSeed()
    {
        double[] Run(ulong seed)
        {
            var p = Tensor.FromArray(Enumerable.Range(0, 6).Select(i => 0.1 * i).ToArray(), [2, 3]).RequireGrad();
            var kron = new Kron([new ParamGroup([p], 0.01)], seed: seed);
            for (int t = 1; t <= 3; t++)
            {
                p.Grad = Tensor.FromArray(Enumerable.Range(0, 6).Select(i => Math.Cos(i * t + 0.5)).ToArray(), [2, 3]);
                kron.Step();
            }
            return kron.StateOf(p, "Q0")!.ToDoubleArray();
        }
        Assert.Equal(Run(5), Run(5));
        Assert.NotEqual(Run(5), Run(6));
    }
}
