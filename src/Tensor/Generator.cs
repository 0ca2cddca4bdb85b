namespace Engine;

/// <summary>
/// A seeded source of random tensors (like <c>torch.Generator</c>). It is a (seed, offset) pair: each draw of n
/// elements uses counters offset..offset+n-1 of <see cref="Engine.Backends.Philox"/> and then advances the offset, so a sequence of
/// draws is reproducible from the seed alone and can be saved and restored as two numbers.
/// </summary>
public sealed class Generator
{
    /// <summary>A generator starting at counter 0 of <paramref name="seed"/>.</summary>
    public Generator(ulong seed = 0) { Seed = seed; }

    /// <summary>The key of the counter-based stream.</summary>
    public ulong Seed { get; private set; }

    /// <summary>Counter of the next element to draw.</summary>
    public ulong Offset { get; set; }

    /// <summary>Restarts the stream from <paramref name="seed"/> (torch.manual_seed).</summary>
    public void ManualSeed(ulong seed)
    {
        Seed = seed;
        Offset = 0;
    }

    /// <summary>Reserves <paramref name="count"/> consecutive counters and returns the first.</summary>
    public ulong Take(long count)
    {
        ulong start = Offset;
        Offset += (ulong)count;
        return start;
    }

    /// <summary>The process-wide default generator used when none is passed.</summary>
    public static Generator Default { get; } = new(0);
}
