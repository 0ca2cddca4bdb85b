using System.Globalization;
using System.Runtime.Intrinsics.X86;

namespace Engine.Backends.Cpu;

/// <summary>
/// The data-cache sizes one core sees, which set the GEMM's cache blocking (<see cref="GemmBlocking"/>): L1d and L2
/// per core, L3 with the number of logical CPUs sharing it. Read from Linux sysfs, else from CPUID (leaf 4 on Intel,
/// 0x8000001D on AMD), else conservative defaults (32 KiB 8-way, 1 MiB, 8 MiB).
/// </summary>
/// <param name="L1d">Level-1 data cache, bytes.</param>
/// <param name="L1Ways">Associativity of L1d.</param>
/// <param name="L2">Level-2 cache per core, bytes.</param>
/// <param name="L3">Level-3 cache, bytes (the whole cache, shared by <paramref name="L3Sharers"/> logical CPUs).</param>
/// <param name="L3Sharers">Logical CPUs that share the L3.</param>
/// <param name="Source">Where the sizes came from: "sysfs", "cpuid" or "defaults".</param>
public sealed record CpuCaches(long L1d, int L1Ways, long L2, long L3, int L3Sharers, string Source)
{
    /// <summary>Used when neither sysfs nor CPUID says anything.</summary>
    public static CpuCaches Defaults { get; } = new(32 * 1024, 8, 1024 * 1024, 8 * 1024 * 1024, Math.Max(1, Environment.ProcessorCount), "defaults");

    /// <summary>This machine's caches, detected once.</summary>
    public static CpuCaches Detected { get; } = FromSysfs() ?? FromCpuid() ?? Defaults;

    /// <summary>
    /// The most of <paramref name="rows"/> rows, <paramref name="strideBytes"/> apart, whose starts fall in one set of
    /// L1d (64-byte lines): rows a power of two of 4 KiB apart all share one set, and more of them than L1 has ways
    /// evict each other while they are read side by side.
    /// </summary>
    public int RowsPerL1Set(int rows, long strideBytes)
    {
        long sets = Math.Max(1, L1d / (64L * Math.Max(1, L1Ways)));
        // The GEMM asks once per block of A: one division per row, then comparisons.
        Span<long> set = rows <= 64 ? stackalloc long[rows] : new long[rows];
        for (int i = 0; i < rows; i++) set[i] = (i * strideBytes / 64 % sets + sets) % sets;
        int most = 0;
        for (int i = 0; i < rows; i++)
        {
            int same = 0;
            for (int j = 0; j < rows; j++)
                if (set[i] == set[j]) same++;
            most = Math.Max(most, same);
        }
        return most;
    }

    /// <summary>"L1d 48 KiB, L2 1 MiB, L3 32 MiB" for reports.</summary>
    public override string ToString() => $"L1d {Size(L1d)}, L2 {Size(L2)}, L3 {Size(L3)} ({Source})";

    static string Size(long bytes) => bytes >= 1 << 20 && bytes % (1 << 20) == 0 ? $"{bytes >> 20} MiB" : $"{bytes >> 10} KiB";

    /// <summary>One cache as the OS or CPUID describes it.</summary>
    record struct Level(int Number, bool Data, long Bytes, int Ways, int Sharers);

    static CpuCaches? FromSysfs()
    {
        const string root = "/sys/devices/system/cpu/cpu0/cache";
        try
        {
            if (!Directory.Exists(root)) return null;
            var levels = new List<Level>();
            foreach (var dir in Directory.GetDirectories(root, "index*"))
            {
                string Read(string name) => File.Exists(Path.Combine(dir, name)) ? File.ReadAllText(Path.Combine(dir, name)).Trim() : "";
                string type = Read("type");
                if (!int.TryParse(Read("level"), out int number) || type == "Instruction") continue;
                long bytes = ParseSize(Read("size"));
                int ways = int.TryParse(Read("ways_of_associativity"), out int w) ? w : 0;
                levels.Add(new Level(number, type is "Data" or "Unified", bytes, ways, CountCpus(Read("shared_cpu_list"))));
            }
            return Combine(levels, "sysfs");
        }
        catch (IOException) { return null; }
        catch (UnauthorizedAccessException) { return null; }
    }

    /// <summary>"48K" or "1024K" or "32M" to bytes; 0 if unreadable.</summary>
    internal static long ParseSize(string text)
    {
        if (text.Length == 0) return 0;
        long unit = char.ToUpperInvariant(text[^1]) switch { 'K' => 1024, 'M' => 1024 * 1024, 'G' => 1024L * 1024 * 1024, _ => 1 };
        string digits = unit == 1 ? text : text[..^1];
        return long.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out long n) ? n * unit : 0;
    }

    /// <summary>Number of CPUs in a list such as "0-3,8-11"; at least 1.</summary>
    internal static int CountCpus(string list)
    {
        int count = 0;
        foreach (var part in list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var ends = part.Split('-');
            if (ends.Length == 2 && int.TryParse(ends[0], out int a) && int.TryParse(ends[1], out int b) && b >= a) count += b - a + 1;
            else if (int.TryParse(part, out _)) count++;
        }
        return Math.Max(1, count);
    }

    /// <summary>Deterministic cache parameters: Intel leaf 4, or AMD leaf 0x8000001D, which has the same layout.</summary>
    static CpuCaches? FromCpuid()
    {
        if (!X86Base.IsSupported) return null;
        var (maxLeaf, vendorB, _, _) = X86Base.CpuId(0, 0);
        bool amd = vendorB == 0x68747541; // "Auth"enticAMD
        int leaf;
        if (amd)
        {
            if ((uint)X86Base.CpuId(unchecked((int)0x80000000), 0).Eax < 0x8000001D) return null;
            leaf = unchecked((int)0x8000001D);
        }
        else
        {
            if (maxLeaf < 4) return null;
            leaf = 4;
        }
        var levels = new List<Level>();
        for (int sub = 0; sub < 16; sub++)
        {
            var (eax, ebx, ecx, _) = X86Base.CpuId(leaf, sub);
            int type = eax & 0x1F;
            if (type == 0) break;
            if (type == 2) continue; // instruction cache
            int ways = ((ebx >> 22) & 0x3FF) + 1, partitions = ((ebx >> 12) & 0x3FF) + 1, line = (ebx & 0xFFF) + 1;
            long bytes = (long)ways * partitions * line * ((long)(uint)ecx + 1);
            levels.Add(new Level((eax >> 5) & 0x7, true, bytes, ways, ((eax >> 14) & 0xFFF) + 1));
        }
        return Combine(levels, "cpuid");
    }

    /// <summary>Takes each level that was found, the default for each that was not; null if nothing was found.</summary>
    static CpuCaches? Combine(List<Level> levels, string source)
    {
        Level? Find(int number) => levels.Where(l => l.Number == number && l.Data && l.Bytes > 0).Cast<Level?>().FirstOrDefault();
        Level? l1 = Find(1), l2 = Find(2), l3 = Find(3);
        if (l1 is null && l2 is null && l3 is null) return null;
        return new CpuCaches(l1?.Bytes ?? Defaults.L1d, l1 is { Ways: > 0 } one ? one.Ways : Defaults.L1Ways,
            l2?.Bytes ?? Defaults.L2, l3?.Bytes ?? Defaults.L3, l3?.Sharers ?? Defaults.L3Sharers, source);
    }
}
