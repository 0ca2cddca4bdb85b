using System.Runtime.CompilerServices;

namespace Engine.Backends;

/// <summary>
/// Philox4x32-10, the counter-based generator of Salmon et al., "Parallel Random Numbers: As Easy as 1, 2, 3" (SC'11).
/// Output block i depends only on (key, i), so any thread or device can produce element i without the others:
/// the same seed gives the same numbers whatever the thread count or backend.
/// </summary>
public static class Philox
{
    const uint M0 = 0xD2511F53, M1 = 0xCD9E8D57; // multipliers, section 4 of the paper
    const uint W0 = 0x9E3779B9, W1 = 0xBB67AE85; // Weyl key increments

    /// <summary>The four 32-bit words of block <paramref name="counter"/> under <paramref name="seed"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static (uint, uint, uint, uint) Block(ulong seed, ulong counter)
    {
        uint c0 = (uint)counter, c1 = (uint)(counter >> 32), c2 = 0, c3 = 0;
        uint k0 = (uint)seed, k1 = (uint)(seed >> 32);
        for (int round = 0; round < 10; round++)
        {
            ulong p0 = (ulong)M0 * c0, p1 = (ulong)M1 * c2;
            uint n0 = (uint)(p1 >> 32) ^ c1 ^ k0;
            uint n1 = (uint)p1;
            uint n2 = (uint)(p0 >> 32) ^ c3 ^ k1;
            uint n3 = (uint)p0;
            (c0, c1, c2, c3) = (n0, n1, n2, n3);
            k0 += W0;
            k1 += W1;
        }
        return (c0, c1, c2, c3);
    }

    /// <summary>A uniform double in [0, 1) with 53 random bits, from element <paramref name="index"/>'s block.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static double Uniform(ulong seed, ulong index)
    {
        var (a, b, _, _) = Block(seed, index);
        ulong bits = ((ulong)a << 21) ^ b;
        return (bits & ((1UL << 53) - 1)) * (1.0 / (1UL << 53));
    }

    /// <summary>A standard normal draw for element <paramref name="index"/> (Box-Muller on the block's two uniforms).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static double Normal(ulong seed, ulong index)
    {
        var (a, b, c, d) = Block(seed, index);
        // u1 in (0, 1] so the log is finite; u2 in [0, 1).
        double u1 = ((((ulong)a << 21) ^ b) & ((1UL << 53) - 1)) * (1.0 / (1UL << 53));
        u1 = 1.0 - u1;
        double u2 = ((((ulong)c << 21) ^ d) & ((1UL << 53) - 1)) * (1.0 / (1UL << 53));
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2.0 * Math.PI * u2);
    }

    /// <summary>A 64-bit random word for element <paramref name="index"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Bits64(ulong seed, ulong index)
    {
        var (a, b, _, _) = Block(seed, index);
        return ((ulong)a << 32) | b;
    }
}
