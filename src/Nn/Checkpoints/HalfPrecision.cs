namespace Engine.Nn.Checkpoints;

/// <summary>Bit-exact conversions between Float32 and the two 16-bit float storage formats.</summary>
internal static class HalfPrecision
{
    /// <summary>binary16 bits to float: every half is exactly representable as a float.</summary>
    public static float HalfBitsToFloat(ushort bits) => (float)BitConverter.UInt16BitsToHalf(bits);

    /// <summary>bfloat16 bits to float: bfloat16 is the upper half of a binary32.</summary>
    public static float BFloat16BitsToFloat(ushort bits) => BitConverter.UInt32BitsToSingle((uint)bits << 16);

    /// <summary>
    /// Float to binary16 bits, rounding to nearest even (IEEE 754 §4.3.1); overflow goes to infinity, NaN stays a quiet NaN
    /// keeping the top payload bits. Method after F. Giesen, "float_to_half_fast3_rtne" (2016).
    /// </summary>
    public static ushort FloatToHalfBits(float value)
    {
        uint f = BitConverter.SingleToUInt32Bits(value);
        uint sign = (f >> 16) & 0x8000;
        f &= 0x7FFF_FFFF;
        uint half;
        if (f >= (127 + 16) << 23) // |value| >= 2^16: infinity, NaN, or a finite value that rounds to infinity
        {
            half = f > 0x7F80_0000 ? 0x7E00 | ((f & 0x7F_FFFF) >> 13) : 0x7C00u;
        }
        else if (f < 113 << 23) // |value| < 2^-14: the result is subnormal or zero
        {
            // Adding 0.5f aligns the 10 subnormal mantissa bits at the bottom of the sum, and the FPU rounds to nearest even.
            const uint half_magic = 126 << 23;
            float aligned = BitConverter.UInt32BitsToSingle(f) + BitConverter.UInt32BitsToSingle(half_magic);
            half = BitConverter.SingleToUInt32Bits(aligned) - half_magic;
        }
        else
        {
            uint mantissaOdd = (f >> 13) & 1;
            // Rebias the exponent (127 -> 15) and add just under half an ulp, plus one when the kept mantissa is odd (ties to even).
            f += unchecked((uint)((15 - 127) << 23)) + 0xFFF + mantissaOdd;
            half = f >> 13;
        }
        return (ushort)(half | sign);
    }

    /// <summary>Float to bfloat16 bits, rounding to nearest even; NaN stays a quiet NaN.</summary>
    public static ushort FloatToBFloat16Bits(float value)
    {
        uint f = BitConverter.SingleToUInt32Bits(value);
        if (float.IsNaN(value)) return (ushort)((f >> 16) | 0x40);
        // Add 0x7FFF plus the lowest kept bit: rounds up above the halfway point, and at it only when that makes the result even.
        return (ushort)((f + 0x7FFF + ((f >> 16) & 1)) >> 16);
    }
}
