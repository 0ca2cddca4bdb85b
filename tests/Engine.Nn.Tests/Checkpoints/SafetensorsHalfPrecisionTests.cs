using Engine.Nn.Checkpoints;
using Xunit;

namespace Engine.Nn.Tests.Checkpoints;

/// <summary>F16/BF16 storage of Float32 tensors, checked against conversions computed independently in the test.</summary>
public sealed class SafetensorsHalfPrecisionTests : IDisposable
{
    readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    /// <summary>Hand-picked cases around every rounding boundary, plus random bit patterns across the whole float range.</summary>
    static float[] Samples()
    {
        var samples = new List<float>
        {
            0f, -0f, 1f, -1f, 0.1f, 1f / 3, float.PositiveInfinity, float.NegativeInfinity, float.NaN,
            65504f, 65519.99f, 65520f, 1e6f, -1e6f, float.MaxValue, float.MinValue, float.Epsilon,
            MathF.ScaleB(1, -14), MathF.ScaleB(1, -24), MathF.ScaleB(1, -25), MathF.ScaleB(3, -25), MathF.ScaleB(1, -26),
            1 + MathF.ScaleB(1, -11), 1 + MathF.ScaleB(3, -11), 1 + MathF.ScaleB(1, -8), 1 + MathF.ScaleB(3, -8),
            BitConverter.UInt32BitsToSingle(0x3F80_8000), BitConverter.UInt32BitsToSingle(0x3F81_8000), BitConverter.UInt32BitsToSingle(0x7F7F_8000),
        };
        var random = new System.Random(1234);
        for (int i = 0; i < 4000; i++) samples.Add(BitConverter.UInt32BitsToSingle((uint)random.NextInt64(0, 1L << 32)));
        for (int i = 0; i < 4000; i++) samples.Add((float)(random.NextDouble() * 2 - 1) * MathF.ScaleB(1, random.Next(-30, 20)));
        return [.. samples];
    }

    /// <summary>Round-to-nearest-even to bfloat16 by choosing the nearer of the two neighbouring bfloat16 values in double precision.</summary>
    static ushort ExpectedBFloat16(float value)
    {
        uint bits = BitConverter.SingleToUInt32Bits(value);
        if (float.IsNaN(value)) return 0x7FC0;
        if (float.IsInfinity(value)) return (ushort)(bits >> 16);
        ushort below = (ushort)(bits >> 16), above = (ushort)(below + 1); // truncation, and one bfloat16 ulp further from zero
        double magnitude = Math.Abs((double)value);
        double dBelow = magnitude - Math.Abs(BFloat16Value(below)), dAbove = Math.Abs(BFloat16Value(above)) - magnitude;
        if (dBelow < dAbove) return below;
        if (dAbove < dBelow) return above;
        return (below & 1) == 0 ? below : above;
    }

    /// <summary>The value of bfloat16 bits from sign, exponent and mantissa fields; exponent 255 is read as 2^128 so it can be compared.</summary>
    static double BFloat16Value(ushort bits)
    {
        int sign = bits >> 15, exponent = (bits >> 7) & 0xFF, mantissa = bits & 0x7F;
        double magnitude = exponent == 0 ? Math.ScaleB(mantissa / 128.0, -126) : Math.ScaleB(1 + mantissa / 128.0, exponent - 127);
        return sign == 1 ? -magnitude : magnitude;
    }

    ushort[] StoredBits(string path, string name)
    {
        using var file = Safetensors.Open(path);
        var info = file.Info(name);
        var bytes = File.ReadAllBytes(path).AsSpan((int)info.FileOffset, (int)info.ByteLength);
        return System.Runtime.InteropServices.MemoryMarshal.Cast<byte, ushort>(bytes).ToArray();
    }

    [Fact]
    public void F16_WrittenFromFloat32_MatchesSystemHalfRounding()
    {
        var values = Samples();
        var path = _folder.File("f16.safetensors");
        Safetensors.Save(path, new Dictionary<string, Tensor> { ["w"] = Tensor.FromArray(values) }, storeFloat32As: SafetensorsDType.F16);

        var expectedBits = Array.ConvertAll(values, v => BitConverter.HalfToUInt16Bits((Half)v));
        Assert.Equal(expectedBits, StoredBits(path, "w"));

        using var file = Safetensors.Open(path);
        Assert.Equal("F16", file.Info("w").DType);
        var loaded = file.Read("w");
        Assert.Equal(DType.Float32, loaded.DType);
        var expectedValues = Array.ConvertAll(expectedBits, b => BitConverter.SingleToUInt32Bits((float)BitConverter.UInt16BitsToHalf(b)));
        Assert.Equal(expectedValues, Array.ConvertAll(loaded.ToArray<float>(), BitConverter.SingleToUInt32Bits));
    }

    [Fact]
    public void BF16_WrittenFromFloat32_RoundsToNearestEven()
    {
        var values = Samples();
        var path = _folder.File("bf16.safetensors");
        Safetensors.Save(path, new Dictionary<string, Tensor> { ["w"] = Tensor.FromArray(values) }, storeFloat32As: SafetensorsDType.BF16);

        var stored = StoredBits(path, "w");
        for (int i = 0; i < values.Length; i++)
        {
            if (float.IsNaN(values[i]))
                Assert.True(float.IsNaN(BitConverter.UInt32BitsToSingle((uint)stored[i] << 16)), $"NaN at {i} must stay NaN");
            else
                Assert.True(ExpectedBFloat16(values[i]) == stored[i], $"value {values[i]:R} (0x{BitConverter.SingleToUInt32Bits(values[i]):X8}): expected 0x{ExpectedBFloat16(values[i]):X4}, stored 0x{stored[i]:X4}");
        }

        var loaded = Safetensors.Load(path)["w"].ToArray<float>();
        for (int i = 0; i < values.Length; i++)
            Assert.Equal((uint)stored[i] << 16, BitConverter.SingleToUInt32Bits(loaded[i]));
    }

    [Fact]
    public void F16_ReadsEveryHalfBitPatternExactly()
    {
        var allBits = Enumerable.Range(0, 1 << 16).Select(i => (ushort)i).ToArray();
        var data = System.Runtime.InteropServices.MemoryMarshal.AsBytes(allBits.AsSpan()).ToArray();
        var path = RawSafetensors.Write(_folder, """{"h":{"dtype":"F16","shape":[65536],"data_offsets":[0,131072]}}""", data);

        var loaded = Safetensors.Load(path)["h"].ToArray<float>();
        for (int i = 0; i < allBits.Length; i++)
        {
            float expected = (float)BitConverter.UInt16BitsToHalf(allBits[i]);
            Assert.True(float.IsNaN(expected) ? float.IsNaN(loaded[i]) : BitConverter.SingleToUInt32Bits(expected) == BitConverter.SingleToUInt32Bits(loaded[i]), $"half 0x{allBits[i]:X4}");
        }
    }

    [Fact]
    public void HalfConversion_AgreesWithSystemHalfOnAMillionRandomFloats()
    {
        var random = new System.Random(99);
        for (int i = 0; i < 1_000_000; i++)
        {
            float value = BitConverter.UInt32BitsToSingle((uint)random.NextInt64(0, 1L << 32));
            ushort expected = BitConverter.HalfToUInt16Bits((Half)value);
            ushort actual = HalfPrecision.FloatToHalfBits(value);
            if (expected != actual) Assert.Fail($"0x{BitConverter.SingleToUInt32Bits(value):X8}: expected 0x{expected:X4}, got 0x{actual:X4}");
        }
    }

    [Theory]
    [InlineData(SafetensorsDType.I32)]
    [InlineData(SafetensorsDType.I64)]
    [InlineData(SafetensorsDType.BOOL)]
    public void StoreFloat32As_RejectsNonFloatStorage(SafetensorsDType storage)
    {
        var path = _folder.File("bad.safetensors");
        var e = Assert.Throws<ArgumentException>(() => Safetensors.Save(path, new Dictionary<string, Tensor> { ["w"] = Tensor.Ones(2) }, storeFloat32As: storage));
        Assert.Contains(storage.ToString(), e.Message);
        Assert.Empty(_folder.Listing());
    }

    [Fact]
    public void StoreFloat32As_LeavesOtherDTypesInTheirOwnType()
    {
        var path = _folder.File("mixed.safetensors");
        Safetensors.Save(path, new Dictionary<string, Tensor>
        {
            ["f"] = Tensor.Ones(2),
            ["d"] = Tensor.Ones([2], DType.Float64),
            ["i"] = Tensor.Ones([2], DType.Int64),
        }, storeFloat32As: SafetensorsDType.BF16);

        using var file = Safetensors.Open(path);
        Assert.Equal(["BF16", "F64", "I64"], new[] { "f", "d", "i" }.Select(n => file.Info(n).DType));
    }
}
