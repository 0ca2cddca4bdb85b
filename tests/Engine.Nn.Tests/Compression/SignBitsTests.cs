using Engine.Nn.Compression;
using Xunit;

namespace Engine.Nn.Tests.Compression;

/// <summary>Packed sign bits (spec adapters-other.md §17): MSB first, 1 = +1, zero counts as +1, padding with 0 bits.</summary>
public class SignBitsTests
{
    [Fact]
    public void Pack_HandExample_MostSignificantBitFirstAndZeroIsPlus()
    {
        // Signs + - + - + - + + | - (then seven padding bits): 1010_1011 = 0xAB, 0000_0000.
        double[] values = [1, -1, 0, -2, 3, -0.5, 0, 7, -1];
        Assert.Equal(new byte[] { 0xAB, 0x00 }, SignBits.Pack(values));
    }

    [Fact]
    public void PackThenUnpack_RoundTripsWithZerosAsPlusOne()
    {
        var random = new Random(3);
        var values = Enumerable.Range(0, 203).Select(i => i % 7 == 0 ? 0.0 : random.NextDouble() - 0.5).ToArray();
        var signs = SignBits.Unpack(SignBits.Pack(values), values.Length);
        Assert.Equal(SignBits.ByteCount(203), SignBits.Pack(values).Length);
        Assert.Equal(26, SignBits.ByteCount(203));
        for (int i = 0; i < values.Length; i++) Assert.Equal(values[i] < 0 ? -1f : 1f, signs[i]);
    }

    [Fact]
    public void Pack_NaN_IsNamedError()
    {
        var e = Assert.Throws<ArgumentException>(() => SignBits.Pack([1, double.NaN]));
        Assert.Contains("value 1 is NaN", e.Message);
    }

    [Fact]
    public void Unpack_TooFewBytes_IsNamedError()
    {
        var e = Assert.Throws<ArgumentException>(() => SignBits.Unpack(new byte[1], 9));
        Assert.Contains("9 signs need 2 bytes", e.Message);
    }
}
