namespace Engine.Nn.Compression;

/// <summary>
/// The sign matrix of a BitStack block stored as one bit per weight (spec adapters-other.md §17, "packed sign bits,
/// out·in/8 bytes"): row-major over the flattened matrix, eight signs per byte, the first sign in the most significant
/// bit; bit 1 is +1 and bit 0 is −1; a zero counts as +1 (sign(0) → +1 in the decomposition). The last byte is padded
/// with 0 bits. Same layout as BitStack's <c>pack_sign</c>/<c>unpack_sign</c> (xinghaow99/BitStack
/// <c>bitstack/utils/pack_utils.py</c>), so a file's bytes mean the same thing in both.
/// <code>byte[] bits = SignBits.Pack(values); float[] signs = SignBits.Unpack(bits, values.Length); // ±1</code>
/// </summary>
public static class SignBits
{
    /// <summary>Bytes that hold <paramref name="count"/> signs: ⌈count / 8⌉.</summary>
    public static int ByteCount(long count) => count < 0
        ? throw new ArgumentOutOfRangeException(nameof(count), $"SignBits.ByteCount: count must be non-negative, got {count}")
        : checked((int)((count + 7) / 8));

    /// <summary>One bit per value: 1 where the value is ≥ 0 (zeros count as +1), 0 where it is negative.</summary>
    /// <exception cref="ArgumentException">A value is NaN (it has no sign).</exception>
    public static byte[] Pack(ReadOnlySpan<double> values)
    {
        var packed = new byte[ByteCount(values.Length)];
        for (int i = 0; i < values.Length; i++)
        {
            if (double.IsNaN(values[i])) throw new ArgumentException($"SignBits.Pack: value {i} is NaN and has no sign");
            if (values[i] >= 0) packed[i >> 3] |= (byte)(0x80 >> (i & 7));
        }
        return packed;
    }

    /// <summary>The first <paramref name="count"/> signs of <paramref name="packed"/> as +1 or −1.</summary>
    /// <exception cref="ArgumentException"><paramref name="packed"/> has fewer than ⌈count / 8⌉ bytes.</exception>
    public static float[] Unpack(ReadOnlySpan<byte> packed, int count)
    {
        if (packed.Length < ByteCount(count))
            throw new ArgumentException($"SignBits.Unpack: {count} signs need {ByteCount(count)} bytes, got {packed.Length}");
        var signs = new float[count];
        for (int i = 0; i < count; i++) signs[i] = (packed[i >> 3] & (0x80 >> (i & 7))) != 0 ? 1f : -1f;
        return signs;
    }
}
