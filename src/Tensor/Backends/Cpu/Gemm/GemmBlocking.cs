namespace Engine.Backends.Cpu;

/// <summary>
/// Cache blocking of the packed GEMM for an MR x NR micro-kernel, derived from the cache sizes with the analytical
/// model of Low, Igual, Smith and Quintana-Orti, "Analytical modeling is enough for high-performance BLIS"
/// (ACM TOMS 43(2), 2016), instead of constants tuned on one CPU.
/// </summary>
/// <param name="MR">Rows of the register tile.</param>
/// <param name="NR">Columns of the register tile.</param>
/// <param name="KC">Depth of a packed block: a KC x NR sliver of B fits L1; MR x KC slivers of A stream past it.</param>
/// <param name="MC">Rows of a packed A block (MC x KC in half of L2); a multiple of MR.</param>
/// <param name="NC">Columns of a packed B block (KC x NC in half of this core's share of L3); a multiple of NR.</param>
/// <param name="ResidentBBytes">Packed B up to this size stays whole in L2 next to an A block.</param>
internal readonly record struct GemmBlocking(int MR, int NR, int KC, int MC, int NC, long ResidentBBytes)
{
    /// <summary>The blocking for an <paramref name="mr"/> x <paramref name="nr"/> tile of <paramref name="elementBytes"/>-byte values.</summary>
    public static GemmBlocking Derive(int mr, int nr, int elementBytes, CpuCaches caches)
    {
        // KC, Low et al.'s k_c: the B sliver (KC x NR) stays in L1 while A slivers (MR x KC) stream through it, so A gets
        // C_A = floor((W - 1) / (1 + NR / MR)) of the W ways, B NR / MR times as many, and one way is left for C and
        // other lines: KC = C_A * (L1 / W) / (MR * S).
        int ways = Math.Max(2, caches.L1Ways);
        long waySize = caches.L1d / ways;
        int aWays = (int)Math.Floor((ways - 1) / (1.0 + (double)nr / mr));
        long kc = aWays >= 1
            ? aWays * waySize / ((long)mr * elementBytes)
            : caches.L1d / 2 / ((long)(mr + nr) * elementBytes); // too few ways to split: both slivers in half of L1
        // Deeper, up to where the B sliver alone fills L1 (at most twice the model's k_c): the A slivers then stream
        // from L2, which feeds them well within its bandwidth (about 7 bytes per cycle for the 14 x 32 float kernel),
        // and each trip of the C tile through the registers serves more FMAs. On a Zen 4 (L1d 32 KiB) this took KC
        // from 146 to 256 and the 2-thread MiniLM products from 94-162 to 171-189 GFLOP/s. AVX-512 "L2" kernels of
        // the BLIS family do the same (TBLIS's Skylake-X 12 x 32 float kernel: KC 384).
        kc = Math.Max(kc, Math.Min(caches.L1d / ((long)nr * elementBytes), 2 * kc));
        kc = Math.Clamp(kc, 16, 4096);

        // MC (their m_c): the MC x KC block of A stays in L2 across all B slivers; half of L2 leaves the other half for
        // the streaming B slivers and C, and for a whole packed B that is reused across A blocks (ResidentBBytes).
        long mc = Math.Max(mr, caches.L2 / 2 / (kc * elementBytes) / mr * mr);
        long residentB = Math.Max(0, caches.L2 - mc * kc * elementBytes);

        // NC (their n_c): the KC x NC block of B stays in L3 across A blocks; each thread packs its own B,
        // so it gets its share of a shared L3, and half of that share as for L2.
        long l3Share = caches.L3 / Math.Max(1, caches.L3Sharers);
        long nc = Math.Clamp(l3Share / 2 / (kc * elementBytes) / nr * nr, nr, (1 << 16) / nr * nr);
        return new GemmBlocking(mr, nr, (int)kc, (int)Math.Min(mc, (1 << 16) / mr * mr), (int)nc, residentB);
    }

    /// <summary>"14x32, KC=384 MC=336 NC=5440".</summary>
    public override string ToString() => $"{MR}x{NR}, KC={KC} MC={MC} NC={NC}";
}

