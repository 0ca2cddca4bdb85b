namespace Engine.Peft.Spectral;

/// <summary>
/// The first entries of PyTorch's CPU <c>torch.randperm(n, generator=torch.Generator().manual_seed(seed))</c>, exactly:
/// torch shuffles [0, n) with Fisher–Yates, swapping r[i] with r[i + z], z = random() % (n − i), for i = 0..n−2
/// (<c>randperm_cpu</c>; current torch switches to 64-bit draws once n ≥ 2³² / 20). Entry i is final after step i, so the first k entries need only
/// k steps and a map of the swapped slots, not the whole permutation. PEFT draws FourierFT's and WaveFT's spectrum
/// positions and SHiRA's random mask this way and saves only the seed.
/// </summary>
public static class TorchRandperm
{
    // randperm_cpu keeps 32-bit draws "for small n" (n < UINT32_MAX / 20) and uses random64() above that.
    const long SmallLimit = uint.MaxValue / 20;

    /// <summary>randperm(<paramref name="n"/>)[:<paramref name="count"/>] for torch's generator seeded with <paramref name="seed"/>.</summary>
    public static long[] First(long n, int count, ulong seed)
    {
        if (n < 1) throw new ArgumentOutOfRangeException(nameof(n), $"TorchRandperm: n must be positive, got {n}");
        if (count < 0 || count > n) throw new ArgumentOutOfRangeException(nameof(count), $"TorchRandperm: count must be in [0, {n}], got {count}");
        var mt = new TorchMt19937(seed);
        var swapped = new Dictionary<long, long>();
        long At(long i) => swapped.TryGetValue(i, out var v) ? v : i;
        var result = new long[count];
        for (long i = 0; i < count; i++)
        {
            if (i < n - 1)
            {
                long z = n < SmallLimit ? (long)(mt.Next() % (ulong)(n - i)) : (long)(mt.Next64() % (ulong)(n - i));
                long a = At(i), b = At(i + z);
                swapped[i] = b;
                swapped[i + z] = a;
            }
            result[i] = At(i);
            swapped.Remove(i);
        }
        return result;
    }
}
