using System.Diagnostics;
using System.Runtime.InteropServices;
using Engine.Nn;
using Engine.Nn.Checkpoints;
using Engine.Peft;

namespace Engine.Fuzz;

/// <summary>
/// Runs mutated files through the engine's three readers — <see cref="Safetensors.Load"/>, <see cref="Gpt2Checkpoint.Load"/>
/// and <see cref="Peft.FromPretrained"/> onto a tiny GPT-2 — and checks the reliability promises for each case: the
/// outcome is success or one of <see cref="Documented"/>, it takes less than the time limit, it allocates at most
/// <see cref="FuzzOptions.AllocationPerFileByte"/> times the files' size plus a constant, and a failed adapter load
/// leaves the model bit-identical (a successful one is deleted again and must restore it too).
/// Example: <c>var report = new Fuzzer(new FuzzOptions { CasesPerTarget = 1500, Seed = 1 }).Run();</c>
/// </summary>
public sealed class Fuzzer(FuzzOptions options)
{
    /// <summary>The exception types the readers document for bad input; anything else is a failure.</summary>
    public static readonly IReadOnlyList<Type> Documented =
    [
        typeof(SafetensorsFormatException), typeof(InvalidDataException), typeof(FileNotFoundException),
        typeof(DirectoryNotFoundException), typeof(NotSupportedException), typeof(TensorSizeLimitException),
    ];

    /// <summary>The adapter seeds: one folder per method or variant of the golden set.</summary>
    public static readonly IReadOnlyList<string> AdapterSeeds =
        ["lora", "dora", "pissa", "olora", "adalora", "vera", "ia3", "prompt", "prefix"];

    /// <summary>Runs every target and returns the report.</summary>
    public FuzzReport Run()
    {
        var golden = FindGolden();
        var work = Directory.CreateTempSubdirectory("engine-fuzz-").FullName;
        var report = new FuzzReport();
        try
        {
            var model = Path.Combine(golden, "gpt2-tiny");
            var safetensorsSeeds = new[] { Path.Combine(model, Gpt2Checkpoint.WeightsFileName) }
                .Concat(AdapterSeeds.Select(s => Path.Combine(golden, "gpt2-tiny-" + s, AdapterFiles.WeightsFileName)))
                .Select(File.ReadAllBytes).ToList();
            var modelSeed = ReadFolder(model);
            var adapterSeeds = AdapterSeeds.Select(s => ReadFolder(Path.Combine(golden, "gpt2-tiny-" + s))).ToList();
            var gpt = Gpt2Checkpoint.Load(model);
            var snapshot = Snapshot(gpt);

            var random = new Random(options.Seed);
            for (int i = 0; i < options.CasesPerTarget; i++)
            {
                int caseSeed = random.Next();
                RunSafetensorsCase(report, work, safetensorsSeeds, caseSeed);
                RunModelCase(report, work, modelSeed, caseSeed);
                RunAdapterCase(report, work, adapterSeeds, gpt, snapshot, caseSeed);
            }
        }
        finally { Directory.Delete(work, recursive: true); }
        return report;
    }

    void RunSafetensorsCase(FuzzReport report, string work, List<byte[]> seeds, int seed)
    {
        var mutator = new Mutator(new Random(seed));
        var rng = new Random(~seed);
        var (bytes, what) = mutator.Safetensors(seeds[rng.Next(seeds.Count)]);
        var path = Path.Combine(work, "case.safetensors");
        File.WriteAllBytes(path, bytes);
        Measure(report, "safetensors", seed, what, bytes.Length, () => Safetensors.Load(path), check: null);
    }

    void RunModelCase(FuzzReport report, string work, Dictionary<string, byte[]> seedFolder, int seed)
    {
        var folder = Path.Combine(work, "model");
        var (size, what) = WriteMutatedFolder(folder, seedFolder, seed);
        Measure(report, "gpt2 folder", seed, what, size, () => Gpt2Checkpoint.Load(folder), check: null);
    }

    void RunAdapterCase(FuzzReport report, string work, List<Dictionary<string, byte[]>> seeds, Gpt gpt, Dictionary<string, byte[]> snapshot, int seed)
    {
        var folder = Path.Combine(work, "adapter");
        int which = new Random(~seed).Next(seeds.Count);
        var (size, what) = WriteMutatedFolder(folder, seeds[which], seed);
        var peft = new PeftModel<Gpt>(gpt);
        Measure(report, "adapter folder", seed, $"{AdapterSeeds[which]}: {what}", size, () => peft.LoadAdapter(folder, "default"), check: succeeded =>
        {
            // A loaded adapter is deleted again, which must restore the base exactly (so the next case starts from it).
            if (succeeded) peft.DeleteAdapter("default");
            var now = Snapshot(gpt);
            var changed = snapshot.Keys.Where(k => !now.TryGetValue(k, out var v) || !v.AsSpan().SequenceEqual(snapshot[k])).Take(3).ToList();
            if (changed.Count > 0 || now.Count != snapshot.Count || peft.AdapterNames.Count > 0)
                return $"model changed after a {(succeeded ? "load and delete" : "failed load")}: [{string.Join(", ", changed)}]";
            return null;
        });
    }

    // Writes the seed folder with one file mutated (or deleted); returns the folder's size in bytes and the mutation.
    static (long Size, string What) WriteMutatedFolder(string folder, Dictionary<string, byte[]> seed, int caseSeed)
    {
        Directory.CreateDirectory(folder);
        var random = new Random(caseSeed);
        var mutator = new Mutator(random);
        var names = seed.Keys.Order(StringComparer.Ordinal).ToList();
        var victim = names[random.Next(names.Count)];
        bool delete = random.Next(40) == 0;
        string what = delete ? $"{victim} deleted" : "";
        long size = 0;
        foreach (var name in names)
        {
            var path = Path.Combine(folder, name);
            if (name == victim && delete)
            {
                File.Delete(path);
                continue;
            }
            var bytes = seed[name];
            if (name == victim)
            {
                (bytes, var edit) = name.EndsWith(".json", StringComparison.Ordinal) ? mutator.Json(bytes) : mutator.Safetensors(bytes);
                what = $"{name}: {edit}";
            }
            File.WriteAllBytes(path, bytes);
            size += bytes.Length;
        }
        return (size, what);
    }

    void Measure(FuzzReport report, string target, int seed, string what, long fileBytes, Action load, Func<bool, string?>? check)
    {
        string outcome;
        string? failure = null;
        long allocated = GC.GetAllocatedBytesForCurrentThread();
        var clock = Stopwatch.StartNew();
        try
        {
            load();
            outcome = "success";
        }
        catch (Exception e) when (Documented.Contains(e.GetType()))
        {
            outcome = e.GetType().Name;
        }
        catch (Exception e)
        {
            outcome = e.GetType().Name;
            failure = $"undocumented {e.GetType().Name}: {e.Message}";
        }
        clock.Stop();
        allocated = GC.GetAllocatedBytesForCurrentThread() - allocated;
        long bound = options.AllocationPerFileByte * fileBytes + options.AllocationConstant;
        if (clock.Elapsed > options.TimeLimit) failure ??= $"took {clock.Elapsed.TotalSeconds:F2} s (limit {options.TimeLimit.TotalSeconds} s)";
        if (allocated > bound) failure ??= $"allocated {allocated} bytes for {fileBytes} bytes of files (bound {bound})";
        if (check?.Invoke(outcome == "success") is { } broken) failure ??= broken;
        report.Add(new FuzzCase(target, seed, what, outcome, clock.Elapsed, allocated, fileBytes, bound, failure));
    }

    static Dictionary<string, byte[]> ReadFolder(string folder) =>
        Directory.GetFiles(folder).Where(f => f.EndsWith(".json", StringComparison.Ordinal) || f.EndsWith(".safetensors", StringComparison.Ordinal))
            .Where(f => !Path.GetFileName(f).StartsWith("golden", StringComparison.Ordinal))
            .ToDictionary(f => Path.GetFileName(f), File.ReadAllBytes, StringComparer.Ordinal);

    static Dictionary<string, byte[]> Snapshot(Module model) =>
        model.StateDict().ToDictionary(kv => kv.Key, kv => MemoryMarshal.AsBytes(kv.Value.ToDoubleArray().AsSpan()).ToArray(), StringComparer.Ordinal);

    // The golden folders sit next to the binary (copied by the project) or in the repository's tests/golden.
    static string FindGolden()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            foreach (var candidate in new[] { Path.Combine(dir.FullName, "golden"), Path.Combine(dir.FullName, "tests", "golden") })
                if (File.Exists(Path.Combine(candidate, "gpt2-tiny", Gpt2Checkpoint.ConfigFileName))) return candidate;
        }
        throw new DirectoryNotFoundException($"Fuzzer: no golden/gpt2-tiny folder above {AppContext.BaseDirectory}");
    }
}

/// <summary>How many cases to run and the limits each case must stay within.</summary>
public sealed record FuzzOptions
{
    /// <summary>Cases per target (three targets).</summary>
    public int CasesPerTarget { get; init; } = 1500;

    /// <summary>The seed of the whole run; each case's seed is drawn from it and printed with any failure.</summary>
    public int Seed { get; init; } = 1;

    /// <summary>The longest a case may take.</summary>
    public TimeSpan TimeLimit { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>Allocation bound: this many bytes per byte of the case's files ...</summary>
    public long AllocationPerFileByte { get; init; } = 16;

    /// <summary>... plus this constant.</summary>
    public long AllocationConstant { get; init; } = 8 << 20;
}
