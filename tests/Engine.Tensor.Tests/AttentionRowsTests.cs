using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Engine.Backends.Cpu;
using Xunit;

namespace Engine.Tests;

/// <summary>
/// The fused attention's row kernels at each vector width this CPU runs (8 lanes with AVX2, 16 with AVX-512) against
/// the softmax and its backward computed in Float64: every row length from 0 to 3 vectors plus a tail (causal rows
/// have every length), ties, huge scores, -inf key biases, all-masked rows (NaN, as the composed softmax) and NaN
/// scores. The attention tests check the kernels inside the fused op at the CPU's widest width only.
/// </summary>
public unsafe class AttentionRowsTests
{
    public static TheoryData<int> Widths()
    {
        var widths = new TheoryData<int>();
        if (Avx2.IsSupported && Fma.IsSupported) widths.Add(8);
        if (Vector512.IsHardwareAccelerated) widths.Add(16);
        return widths;
    }

    static void Softmax(int width, float[] row, float[]? bias)
    {
        fixed (float* r = row, b = bias)
            if (width == 16) AttentionRows.Softmax<Vector512<float>, Float512Lanes>(r, row.Length, b);
            else AttentionRows.Softmax<Vector256<float>, Float256Lanes>(r, row.Length, b);
    }

    static void SoftmaxGradient(int width, float[] p, float[] dp)
    {
        fixed (float* pp = p, pdp = dp)
            if (width == 16) AttentionRows.SoftmaxGradient<Vector512<float>, Float512Lanes>(pp, pdp, p.Length);
            else AttentionRows.SoftmaxGradient<Vector256<float>, Float256Lanes>(pp, pdp, p.Length);
    }

    static double[] ReferenceSoftmax(float[] row, float[]? bias)
    {
        var x = row.Select((v, i) => (double)v + (bias is null ? 0 : bias[i])).ToArray();
        double max = x.Length == 0 ? 0 : x.Max();
        var e = x.Select(v => Math.Exp(v - max)).ToArray();
        double sum = e.Sum();
        return e.Select(v => v / sum).ToArray();
    }

    [Theory]
    [MemberData(nameof(Widths))]
    public void Softmax_matches_the_double_reference_at_every_row_length(int width)
    {
        var rng = new Random(width);
        for (int n = 0; n <= 3 * width + width - 1; n++)
            foreach (var kind in new[] { "random", "ties", "huge", "biased" })
            {
                var row = Enumerable.Range(0, n).Select(_ => kind switch
                {
                    "ties" => 0.5f,
                    "huge" => (float)(rng.NextDouble() - 0.5) * 2e30f,
                    _ => (float)(rng.NextDouble() * 16 - 8),
                }).ToArray();
                // -inf hides a key (the padding mask); at least one key stays visible.
                float[]? bias = kind == "biased" ? Enumerable.Range(0, n).Select(i => i % 3 == 1 ? float.NegativeInfinity : (float)rng.NextDouble()).ToArray() : null;
                var expected = ReferenceSoftmax(row, bias);
                var actual = (float[])row.Clone();
                Softmax(width, actual, bias);
                for (int i = 0; i < n; i++)
                    Assert.True(Math.Abs(actual[i] - expected[i]) <= 1e-6 * Math.Max(expected[i], 1e-3) + 1e-30,
                        $"{width} lanes, {kind} row of {n}: weight {i} = {actual[i]:G9}, reference {expected[i]:G9}");
            }
    }

    [Theory]
    [MemberData(nameof(Widths))]
    public void Softmax_gives_NaN_rows_where_the_composed_softmax_does(int width)
    {
        foreach (int n in new[] { 1, width - 1, width, 2 * width + 3 })
        {
            var masked = Enumerable.Repeat(1f, n).ToArray();
            Softmax(width, masked, Enumerable.Repeat(float.NegativeInfinity, n).ToArray());
            Assert.All(masked, w => Assert.True(float.IsNaN(w), $"{width} lanes, all-masked row of {n}: {w}"));
            foreach (int at in new[] { 0, n - 1 })
            {
                var withNaN = Enumerable.Range(0, n).Select(i => i == at ? float.NaN : i * 0.25f).ToArray();
                Softmax(width, withNaN, null);
                Assert.All(withNaN, w => Assert.True(float.IsNaN(w), $"{width} lanes, row of {n} with NaN at {at}: {w}"));
            }
        }
    }

    [Theory]
    [MemberData(nameof(Widths))]
    public void SoftmaxGradient_matches_the_double_reference_at_every_row_length(int width)
    {
        var rng = new Random(100 + width);
        for (int n = 0; n <= 3 * width + width - 1; n++)
            foreach (bool zeros in new[] { false, true })
            {
                // Weights of a real softmax (some exactly 0, as masked keys give) and gradients of both signs.
                var p = ReferenceSoftmax(Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 6)).ToArray(), null)
                    .Select((v, i) => zeros && i % 4 == 2 ? 0f : (float)v).ToArray();
                var dp = Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 200 - 100)).ToArray();
                double dot = p.Zip(dp, (a, b) => (double)a * b).Sum();
                double scale = p.Zip(dp, (a, b) => Math.Abs((double)a * b)).Sum() + Math.Abs(dot);
                var actual = (float[])dp.Clone();
                SoftmaxGradient(width, p, actual);
                for (int i = 0; i < n; i++)
                {
                    double expected = p[i] * (dp[i] - dot);
                    Assert.True(Math.Abs(actual[i] - expected) <= 1e-6 * (Math.Abs(expected) + p[i] * scale) + 1e-30,
                        $"{width} lanes, row of {n}: dS {i} = {actual[i]:G9}, reference {expected:G9}");
                }
            }
    }
}
