namespace Engine.Nn;

/// <summary>
/// The universal hash family of FakeRoast's <c>UHasher</c> (apd10/FakeRoast <c>Mapper_v2.py</c>; spec adapters-other.md
/// §16): hash1(x) = ((a0·x + a1·x² + a2) mod P) mod R and hash2(x, y) = ((a0·x + a1·y + a2) mod P) mod R with
/// P = 2038074743 and odd coefficients a_i = 2·r_i + 1, r_i uniform in [1, P/2 − 1).
/// The arithmetic is the reference's: 64-bit products that wrap on overflow (torch int64) and a remainder with the
/// sign of the divisor (torch's <c>%</c>), so large locations hash as there.
/// The coefficients are drawn from the seed with SplitMix64 rather than torch's generator (which C# does not
/// reproduce); the maps are therefore a pure, portable function of the seed, and a checkpoint stores the seed.
/// </summary>
public sealed class UniversalHash
{
    /// <summary>The prime of the reference.</summary>
    public const long P = 2038074743;

    /// <summary>Coefficients for <paramref name="seed"/>.</summary>
    public UniversalHash(ulong seed)
    {
        Seed = seed;
        ulong state = seed;
        var a = new long[3];
        for (int i = 0; i < 3; i++)
        {
            // r uniform in [1, P/2 - 1) as torch.randint(1, int(P/2) - 1); the modulo bias over 2^64 is negligible.
            long span = P / 2 - 2;
            long r = 1 + (long)(SplitMix64(ref state) % (ulong)span);
            a[i] = 2 * r + 1;
        }
        A0 = a[0];
        A1 = a[1];
        A2 = a[2];
    }

    /// <summary>The seed the coefficients come from.</summary>
    public ulong Seed { get; }

    /// <summary>a0 (odd).</summary>
    public long A0 { get; }

    /// <summary>a1 (odd).</summary>
    public long A1 { get; }

    /// <summary>a2 (odd).</summary>
    public long A2 { get; }

    /// <summary>((a0·x + a1·x² + a2) mod P) mod <paramref name="range"/>, with wrapping 64-bit arithmetic.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The range is not in [1, P).</exception>
    public long Hash1(long x, long range)
    {
        CheckRange(range);
        long v = unchecked(x * A0 + x * x * A1 + A2);
        return FloorMod(FloorMod(v, P), range);
    }

    /// <summary>((a0·x + a1·y + a2) mod P) mod <paramref name="range"/>, with wrapping 64-bit arithmetic.</summary>
    public long Hash2(long x, long y, long range)
    {
        CheckRange(range);
        long v = unchecked(x * A0 + y * A1 + A2);
        return FloorMod(FloorMod(v, P), range);
    }

    static void CheckRange(long range)
    {
        // The reference asserts target_size < P.
        if (range < 1 || range >= P) throw new ArgumentOutOfRangeException(nameof(range), $"UniversalHash: the range must be in [1, {P}), got {range}");
    }

    static long FloorMod(long v, long m)
    {
        long r = v % m;
        return r < 0 ? r + m : r;
    }

    static ulong SplitMix64(ref ulong state)
    {
        ulong z = unchecked(state += 0x9E3779B97F4A7C15UL);
        z = unchecked((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL);
        z = unchecked((z ^ (z >> 27)) * 0x94D049BB133111EBUL);
        return z ^ (z >> 31);
    }
}
