using Engine.Autograd;
using FsCheck.Xunit;
using Xunit;
using static Engine.Nn.Tests.TestSupport;

namespace Engine.Nn.Tests.Recurrent;

/// <summary>The delta-rule recurrence itself: the recurrent form against scalar loops, the chunked form against the recurrent one.</summary>
public class DeltaRuleTests
{
    // Random inputs of the rule in Float64: unit keys (as the layer gives), betas in [0, betaMax], log-decays <= 0.
    static (Tensor Q, Tensor K, Tensor V, Tensor Beta, Tensor? LogAlpha, Tensor S0) Inputs(ulong seed, int b, int h, int t, int n, int dk, int dv, bool gate, double betaMax = 2)
    {
        var q = Randn64(seed, b, h, t, dk);
        var k = Randn64(seed + 1, b, h, t, n, dk);
        k = k / k.Square().Sum(-1, keepDim: true).Sqrt();
        var v = Randn64(seed + 2, b, h, t, n, dv);
        var beta = Tensor.Rand([b, h, t, n], 0, betaMax, DType.Float64, new Generator(seed + 3));
        var logAlpha = gate ? Tensor.Rand([b, h, t], -1, 0, DType.Float64, new Generator(seed + 4)) : null;
        var s0 = Randn64(seed + 5, b, h, dk, dv);
        return (q, k, v, beta, logAlpha, s0);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Recurrent_MatchesAScalarLoopOverTokensAndHouseholderSteps(bool gate)
    {
        int b = 2, h = 2, t = 4, n = 2, dk = 3, dv = 2;
        var (q, k, v, beta, logAlpha, s0) = Inputs(10, b, h, t, n, dk, dv, gate);
        var (output, state) = DeltaRule.Recurrent(q, k, v, beta, logAlpha, s0);

        double[] qa = q.ToDoubleArray(), ka = k.ToDoubleArray(), va = v.ToDoubleArray(), ba = beta.ToDoubleArray(), sa = s0.ToDoubleArray();
        double[]? ga = logAlpha?.ToDoubleArray();
        var expected = new double[b * h * t * dv];
        var expectedState = new double[b * h * dk * dv];
        for (int bh = 0; bh < b * h; bh++)
        {
            var s = new double[dk, dv];
            for (int r = 0; r < dk; r++) for (int c = 0; c < dv; c++) s[r, c] = sa[(bh * dk + r) * dv + c];
            for (int i = 0; i < t; i++)
            {
                if (ga is not null)
                {
                    double alpha = Math.Exp(ga[bh * t + i]);
                    for (int r = 0; r < dk; r++) for (int c = 0; c < dv; c++) s[r, c] *= alpha;
                }
                for (int j = 0; j < n; j++)
                {
                    // S <- (I - beta k k^T) S + beta k v^T, written out entry by entry.
                    int step = (bh * t + i) * n + j;
                    double bj = ba[step];
                    var kj = Enumerable.Range(0, dk).Select(r => ka[step * dk + r]).ToArray();
                    var next = new double[dk, dv];
                    for (int r = 0; r < dk; r++)
                        for (int c = 0; c < dv; c++)
                        {
                            double sum = s[r, c];
                            for (int m = 0; m < dk; m++) sum -= bj * kj[r] * kj[m] * s[m, c];
                            next[r, c] = sum + bj * kj[r] * va[step * dv + c];
                        }
                    s = next;
                }
                for (int c = 0; c < dv; c++)
                {
                    double o = 0;
                    for (int r = 0; r < dk; r++) o += s[r, c] * qa[(bh * t + i) * dk + r];
                    expected[(bh * t + i) * dv + c] = o;
                }
            }
            for (int r = 0; r < dk; r++) for (int c = 0; c < dv; c++) expectedState[(bh * dk + r) * dv + c] = s[r, c];
        }
        Assert.Equal(new[] { b, h, t, dv }, output.Shape);
        AssertClose(expected, output.ToDoubleArray(), 1e-12, "output");
        AssertClose(expectedState, state.ToDoubleArray(), 1e-12, "state");
    }

    public static TheoryData<int, int, int, bool> ChunkCases()
    {
        var data = new TheoryData<int, int, int, bool>();
        foreach (int chunk in new[] { 1, 3, 4, 16, 64 })
            foreach (int n in new[] { 1, 2 })
                foreach (bool gate in new[] { false, true })
                    data.Add(chunk, 37, n, gate);
        return data;
    }

    [Theory]
    [MemberData(nameof(ChunkCases))]
    public void Chunked_EqualsRecurrent_OutputsStateAndGradients(int chunk, int t, int n, bool gate)
    {
        var (q, k, v, beta, logAlpha, s0) = Inputs(20, 1, 2, t, n, 4, 3, gate);
        var inputs = new[] { q, k, v, beta, logAlpha, s0 }.OfType<Tensor>().Select(x => x.RequireGrad()).ToArray();
        var (o1, s1) = DeltaRule.Recurrent(q, k, v, beta, logAlpha, s0);
        var (o2, s2) = DeltaRule.Chunked(q, k, v, beta, logAlpha, s0, chunk);
        AssertClose(o1, o2, 1e-9, "output");
        AssertClose(s1, s2, 1e-9, "state");
        var wo = Randn64(21, o1.Shape);
        var ws = Randn64(22, s1.Shape);
        var g1 = Autograd.Autograd.Grad((o1 * wo).Sum() + (s1 * ws).Sum(), inputs);
        var g2 = Autograd.Autograd.Grad((o2 * wo).Sum() + (s2 * ws).Sum(), inputs);
        for (int i = 0; i < inputs.Length; i++) AssertClose(g1[i], g2[i], 1e-8, $"gradient {i}");
    }

    [Theory]
    [InlineData(false, 1, false)]
    [InlineData(true, 2, true)]
    [InlineData(true, 1, true)]
    public void BothForms_GradCheckWithRespectToEveryInput(bool chunked, int n, bool gate)
    {
        var (q, k, v, beta, logAlpha, s0) = Inputs(70, 1, 2, 5, n, 3, 2, gate);
        var inputs = new[] { q, k, v, beta, logAlpha, s0 }.OfType<Tensor>().ToArray();
        Tensor F(Tensor[] x)
        {
            var g = gate ? x[4] : null;
            var s = x[^1];
            var (o, state) = chunked ? DeltaRule.Chunked(x[0], x[1], x[2], x[3], g, s, 3) : DeltaRule.Recurrent(x[0], x[1], x[2], x[3], g, s);
            return Tensor.Concat([o.Reshape(-1), state.Reshape(-1)]);
        }
        var result = GradCheck.Check(F, inputs);
        Assert.True(result.Passed, result.Message);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Chunked_SecondOrderGradients_MatchFiniteDifferences(bool gate)
    {
        // The chunk-to-chunk recurrence has a hand-written backward; it must itself be differentiable.
        var (q, k, v, beta, logAlpha, s0) = Inputs(71, 1, 1, 4, 1, 2, 2, gate);
        var inputs = new[] { q, k, v, beta, logAlpha, s0 }.OfType<Tensor>().ToArray();
        var result = GradCheck.CheckSecondOrder(x => DeltaRule.Chunked(x[0], x[1], x[2], x[3], gate ? x[4] : null, x[^1], 2).Output, inputs);
        Assert.True(result.Passed, result.Message);
    }

    [Fact]
    public void DeltaProduct_IsDeltaNetOnTheInterleavedSequence()
    {
        // Siems et al. 2025: n_h steps per token = DeltaNet over T n_h steps, read after each token's last step.
        int t = 5, n = 3;
        var (q, k, v, beta, _, s0) = Inputs(30, 2, 2, t, n, 3, 4, gate: false);
        var (product, _) = DeltaRule.Recurrent(q, k, v, beta, null, s0);
        var qi = q.Unsqueeze(3).Expand(2, 2, t, n, 3).Reshape(2, 2, t * n, 3);
        var (net, _) = DeltaRule.Recurrent(qi, k.Reshape(2, 2, t * n, 1, 3), v.Reshape(2, 2, t * n, 1, 4), beta.Reshape(2, 2, t * n, 1), null, s0);
        AssertClose(net.Reshape(2, 2, t, n, 4).Select(3, n - 1), product, 1e-12);
    }

    [Fact]
    public void GateWithAlphaOne_EqualsTheUngatedRule()
    {
        var (q, k, v, beta, _, s0) = Inputs(40, 1, 2, 9, 2, 3, 3, gate: false);
        var zeros = Tensor.Zeros([1, 2, 9], DType.Float64);
        AssertClose(DeltaRule.Recurrent(q, k, v, beta, null, s0).Output, DeltaRule.Recurrent(q, k, v, beta, zeros, s0).Output, 1e-12);
        AssertClose(DeltaRule.Chunked(q, k, v, beta, null, s0, 4).Output, DeltaRule.Chunked(q, k, v, beta, zeros, s0, 4).Output, 1e-12);
    }

    [Fact]
    public void UtTransform_SolvesTheUnitLowerTriangularSystem()
    {
        // (I + StrictLower(diag(b) K K^T)) T = diag(b), with the left matrix built here by loops.
        int c = 6, d = 4;
        var k = Randn64(50, 1, 1, c, d);
        var beta = Tensor.Rand([1, 1, c], 0, 2, DType.Float64, new Generator(51));
        var t = DeltaRule.UtTransform(k, beta).ToDoubleArray();
        double[] ka = k.ToDoubleArray(), ba = beta.ToDoubleArray();
        for (int i = 0; i < c; i++)
            for (int j = 0; j < c; j++)
            {
                double sum = t[i * c + j];
                for (int m = 0; m < i; m++)
                {
                    double dot = 0;
                    for (int r = 0; r < d; r++) dot += ka[i * d + r] * ka[m * d + r];
                    sum += ba[i] * dot * t[m * c + j];
                }
                AssertClose(i == j ? ba[i] : 0, sum, 1e-12, $"(A T)[{i},{j}]");
            }
    }

    [Property(MaxTest = 40)]
    public bool HouseholderFactor_WithBetaInZeroTwo_HasEigenvalueOneMinusBetaInMinusOneOne(byte seed, byte betaByte)
    {
        // One step from S = I with v = 0 leaves S = I - beta k k^T: the state-transition factor itself.
        int d = 4;
        double beta = 2.0 * betaByte / 255;
        var k = Randn64(seed + 60UL, 1, 1, 1, 1, d);
        k = k / k.Square().Sum(-1, keepDim: true).Sqrt();
        var identity = Tensor.Eye(d, dtype: DType.Float64).Reshape(1, 1, d, d);
        var factor = DeltaRule.Step(identity, k.Select(2, 0), Tensor.Zeros([1, 1, 1, d], DType.Float64), Tensor.Full([1, 1, 1], beta, DType.Float64));
        var eigenvalues = Linalg.EighSymmetric(factor.Reshape(d, d)).Eigenvalues.ToDoubleArray().Order().ToArray();
        // Eigenvalue 1 - beta along k, 1 on the orthogonal complement; all of them in [-1, 1].
        var expected = new[] { 1 - beta }.Concat(Enumerable.Repeat(1.0, d - 1)).Order().ToArray();
        return eigenvalues.All(e => e >= -1 - 1e-12 && e <= 1 + 1e-12)
            && eigenvalues.Zip(expected).All(p => Math.Abs(p.First - p.Second) < 1e-10);
    }

    [Property(MaxTest = 40)]
    public bool TwoHouseholderSteps_NeverExpandAndWithBetaTwoAreARotation(byte seed, byte b1, byte b2)
    {
        // The token's transition P = (I - b2 k2 k2^T)(I - b1 k1 k1^T): each factor has norm <= 1 for beta in [0, 2];
        // with beta = 2 both are reflections and P is a rotation (orthogonal, det +1): the S3 mechanism of Siems et al. 2025.
        int d = 3;
        var k = Randn64(seed + 90UL, 1, 1, 1, 2, d);
        k = k / k.Square().Sum(-1, keepDim: true).Sqrt();
        var identity = Tensor.Eye(d, dtype: DType.Float64).Reshape(1, 1, d, d);
        Tensor Transition(double beta1, double beta2) => DeltaRule.Step(identity, k.Select(2, 0), Tensor.Zeros([1, 1, 2, d], DType.Float64),
            Tensor.FromArray(new[] { beta1, beta2 }, [1, 1, 2])).Reshape(d, d);
        var general = Transition(2.0 * b1 / 255, 2.0 * b2 / 255);
        bool contracts = Linalg.Svd(general).S.ToDoubleArray().All(sv => sv <= 1 + 1e-12);
        var rotation = Transition(2, 2);
        var gram = rotation.MT.MatMul(rotation).ToDoubleArray();
        var eye = Tensor.Eye(d, dtype: DType.Float64).ToDoubleArray();
        bool orthogonal = gram.Zip(eye).All(p => Math.Abs(p.First - p.Second) < 1e-12);
        return contracts && orthogonal && Math.Abs(Linalg.Det(rotation).Item() - 1) < 1e-12;
    }
}
