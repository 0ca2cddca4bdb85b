using FsCheck;
using FsCheck.Fluent;
using Xunit;

namespace Engine.Autograd.Tests;

/// <summary>Gradient properties of the real FFT pair, including zero-padding and truncation to a length n.</summary>
public class SpectralGradTests
{
    // (rows, signal length, n, seed): n around the length so that both padding and truncation occur, odd and even.
    static Gen<(int Rows, int Length, int N, int Seed)> Sizes =>
        from rows in Gen.Choose(1, 3)
        from length in Gen.Choose(1, 12)
        from n in Gen.Choose(Math.Max(1, length - 3), length + 3)
        from seed in Gen.Choose(0, 1000)
        select (rows, length, n, seed);

    [Fact]
    public void Rfft_WithPaddingOrTruncation_MatchesFiniteDifferences()
        => GradProperty.ForAll(Sizes, p =>
        {
            var x = Tensor.Randn([p.Rows, p.Length], dtype: DType.Float64, generator: new Generator((ulong)p.Seed));
            GradProperty.Check(t => t[0].Rfft(p.N), [x]);
        });

    [Fact]
    public void Irfft_OfHalfSpectraOfAnyLength_MatchesFiniteDifferences()
        => GradProperty.ForAll(Sizes, p =>
        {
            int bins = Math.Max(1, p.Length / 2 + 1);
            var z = Tensor.Randn([p.Rows, bins, 2], dtype: DType.Float64, generator: new Generator((ulong)p.Seed));
            GradProperty.Check(t => t[0].Irfft(p.N), [z]);
        });

    [Fact]
    public void CausalConvolutionByFft_MatchesFiniteDifferencesInSignalAndKernel()
        => GradProperty.ForAll(Sizes, p =>
        {
            var gen = new Generator((ulong)p.Seed);
            var u = Tensor.Randn([p.Rows, p.Length], dtype: DType.Float64, generator: gen);
            var k = Tensor.Randn([p.Length], dtype: DType.Float64, generator: gen);
            GradProperty.Check(t =>
            {
                int n = 2 * p.Length;
                var (fu, fk) = (t[0].Rfft(n), t[1].Rfft(n));
                var (ur, ui) = (fu.Select(-1, 0), fu.Select(-1, 1));
                var (kr, ki) = (fk.Select(-1, 0), fk.Select(-1, 1));
                var product = Tensor.Stack([ur * kr - ui * ki, ur * ki + ui * kr], -1);
                return product.Irfft(n).Narrow(-1, 0, p.Length);
            }, [u, k]);
        }, maxTest: 10);

    [Fact]
    public void CausalConvolution_OfAnyLengthsWithABroadcastKernel_MatchesFiniteDifferencesInSignalAndKernel()
        => GradProperty.ForAll(
            from batch in Gen.Choose(1, 2)
            from channels in Gen.Choose(1, 3)
            from length in Gen.Choose(1, 10)
            from taps in Gen.Choose(1, 12)
            from seed in Gen.Choose(0, 1000)
            select (batch, channels, length, taps, seed),
            p =>
            {
                var gen = new Generator((ulong)p.seed);
                var u = Tensor.Randn([p.batch, p.channels, p.length], dtype: DType.Float64, generator: gen);
                var k = Tensor.Randn([p.channels, p.taps], dtype: DType.Float64, generator: gen);
                GradProperty.Check(t => t[0].CausalConvolution(t[1]), [u, k]);
            });

    [Fact]
    public void VandermondeProduct_InCoefficientsAndExponents_MatchesFiniteDifferences()
        => GradProperty.ForAll(
            from rows in Gen.Choose(1, 2)
            from modes in Gen.Choose(1, 3)
            from length in Gen.Choose(1, 70)
            from seed in Gen.Choose(0, 1000)
            select (rows, modes, length, seed),
            p =>
            {
                var gen = new Generator((ulong)p.seed);
                var c = Tensor.Randn([p.rows, p.modes, 2], dtype: DType.Float64, generator: gen);
                // Decaying, oscillating modes as in S4D (real parts negative).
                var w = Tensor.Concat([Tensor.Rand([p.rows, p.modes, 1], -0.3, -0.01, DType.Float64, generator: gen),
                                       Tensor.Rand([p.rows, p.modes, 1], -2, 2, DType.Float64, generator: gen)], -1);
                GradProperty.Check(t => Tensor.VandermondeProduct(t[0], t[1], p.length), [c, w]);
            });

    [Fact]
    public void Fwht_OfRowsOfPowerOfTwoLengths_MatchesFiniteDifferences()
        => GradProperty.ForAll(Sizes, p =>
        {
            int length = 1 << (p.Length % 6);
            var x = Tensor.Randn([p.Rows, length], dtype: DType.Float64, generator: new Generator((ulong)p.Seed));
            GradProperty.Check(t => t[0].Fwht(), [x]);
            // A strided input: the rows are columns of a [L, rows] tensor.
            var columns = Tensor.Randn([length, p.Rows], dtype: DType.Float64, generator: new Generator((ulong)p.Seed + 1));
            GradProperty.Check(t => t[0].Transpose(0, 1).Fwht(), [columns]);
        });
}
