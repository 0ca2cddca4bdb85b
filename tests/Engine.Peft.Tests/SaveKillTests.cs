using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using Engine.Nn.Checkpoints;
using Engine.Tests.Shared;
using Xunit;
using Xunit.Abstractions;

namespace Engine.Peft.Tests;

/// <summary>
/// Folder saves killed with kill -9 at random points (a child process that saves versions A and B alternately,
/// tests/Engine.SaveKillChild): the folder then always loads as exactly the old version or the new one (every tensor
/// bit for bit, and the config file byte for byte), never a mix and never unloadable, and the next completed save leaves
/// no temporary file. The figures it prints go in the README.
/// </summary>
public sealed class SaveKillTests(ITestOutputHelper output)
{
    const int KillsPerKind = 50;

    [Theory]
    [InlineData(SaveKillVersions.GptKind)]
    [InlineData(SaveKillVersions.AdapterKind)]
    public void FolderSaveKilledAtRandomPoints_LoadsAsTheOldOrTheNewVersion(string kind)
    {
        var root = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), "engine-savekill-" + Guid.NewGuid().ToString("N"))).FullName;
        try
        {
            var versions = new KilledSaveVersions(kind, Path.Combine(root, "reference"));
            string folder = Path.Combine(root, kind);
            versions.Save['A'](folder);
            char current = 'A';
            var random = new Random(12);
            int old = 0, @new = 0, completedByRecover = 0, killsLeavingTemporaries = 0;
            long temporaryBytes = 0;
            var saveMilliseconds = new List<double>();
            var delays = new List<double>();
            for (int kill = 0; kill < KillsPerKind; kill++)
            {
                // Delays cover about two steady-state saves, so kills land in every phase of a save.
                double meanSave = saveMilliseconds.Count > 0 ? saveMilliseconds.Average() : 10;
                double delay = random.NextDouble() * 2 * meanSave;
                delays.Add(delay);
                var lines = KilledSave.Run(kind, folder, SaveKillVersions.Other(current), TimeSpan.FromMilliseconds(delay));
                char lastCompleted = current;
                foreach (var line in lines.Where(l => l.StartsWith("saved ", StringComparison.Ordinal)))
                {
                    var parts = line.Split(' ');
                    lastCompleted = parts[1][0];
                    saveMilliseconds.Add(double.Parse(parts[2], CultureInfo.InvariantCulture) / 1000);
                }

                var temporaries = Directory.GetFiles(folder).Where(p => Path.GetFileName(p).EndsWith(".tmp", StringComparison.Ordinal)).ToList();
                if (temporaries.Count > 0) killsLeavingTemporaries++;
                temporaryBytes += temporaries.Sum(p => new FileInfo(p).Length);
                bool committed = File.Exists(Path.Combine(folder, FolderTransaction.CommitRecordName));

                char loaded;
                try { loaded = versions.Identify(folder); }
                catch (Exception e)
                {
                    throw new Xunit.Sdk.XunitException($"{kind} kill {kill} after {delay:F2} ms (last completed save: {lastCompleted}): {e}");
                }
                if (loaded == lastCompleted) old++;
                else @new++;
                if (committed)
                {
                    completedByRecover++;
                    Assert.True(loaded != lastCompleted, $"{kind} kill {kill}: a commit record was left, so the folder must load as the new version {SaveKillVersions.Other(lastCompleted)}, not {loaded}");
                }

                // The next completed save leaves the folder's two files, the lock file, and nothing else.
                versions.Save[loaded](folder);
                Assert.Equal(versions.Listing, Directory.GetFiles(folder).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray());
                current = loaded;
            }
            output.WriteLine($"{kind}: {KillsPerKind} kills, {old} old, {@new} new ({completedByRecover} completed from the commit record), 0 mixed, 0 unloadable; " +
                $"{killsLeavingTemporaries} kills left temporaries ({temporaryBytes / 1024.0:F0} KiB), 0 left after the next save; " +
                $"save {saveMilliseconds.Average():F1} ms mean ({saveMilliseconds.Count} saves), kill delays {delays.Min():F2}-{delays.Max():F2} ms after warm-up");
            // Kills that never land after a commit (or never before one) would not test what this test is about.
            Assert.True(old > 0 && @new > 0, $"{kind}: kills should land both before and after commits, got {old} old and {@new} new");
        }
        finally
        {
            try { Directory.Delete(root, recursive: true); } catch (IOException) { }
        }
    }
}

/// <summary>Versions A and B of one kind as the test expects to load them: config file bytes and tensors.</summary>
sealed class KilledSaveVersions
{
    readonly string _kind;
    readonly Dictionary<char, (byte[] Config, Dictionary<string, byte[]> Tensors)> _expected = [];

    public KilledSaveVersions(string kind, string referenceFolder)
    {
        _kind = kind;
        Save = new() { ['A'] = SaveKillVersions.Saver(kind, 'A'), ['B'] = SaveKillVersions.Saver(kind, 'B') };
        foreach (char v in "AB")
        {
            string folder = Path.Combine(referenceFolder, v.ToString());
            Save[v](folder);
            _expected[v] = (File.ReadAllBytes(Path.Combine(folder, ConfigFileName)), Tensors(folder));
        }
        Listing = [ConfigFileName, WeightsFileName, FolderTransaction.LockFileName];
        Array.Sort(Listing, StringComparer.Ordinal);
    }

    /// <summary>Saves a version into a folder.</summary>
    public Dictionary<char, Action<string>> Save { get; }

    /// <summary>The files a folder holds after a completed save.</summary>
    public string[] Listing { get; }

    string ConfigFileName => _kind == SaveKillVersions.GptKind ? Nn.Gpt2Checkpoint.ConfigFileName : AdapterFiles.ConfigFileName;
    string WeightsFileName => _kind == SaveKillVersions.GptKind ? Nn.Gpt2Checkpoint.WeightsFileName : AdapterFiles.WeightsFileName;

    // Loaded through the public loaders (which recover the folder first), as raw bits.
    Dictionary<string, byte[]> Tensors(string folder)
    {
        IEnumerable<(string, Tensor)> tensors = _kind == SaveKillVersions.GptKind
            ? Nn.Gpt2Checkpoint.Load(folder).NamedParameters()
            : AdapterFiles.StateDict(Peft.FromPretrained(SaveKillVersions.AdapterBase(), folder), "default").Select(kv => (kv.Key, kv.Value));
        return tensors.ToDictionary(t => t.Item1, t => MemoryMarshal.AsBytes(t.Item2.ToArray<float>().AsSpan()).ToArray(), StringComparer.Ordinal);
    }

    /// <summary>Loads the folder and says which version it holds; throws when it holds a mix or does not load (the loader's exception).</summary>
    public char Identify(string folder)
    {
        var tensors = Tensors(folder);
        byte[] config = File.ReadAllBytes(Path.Combine(folder, ConfigFileName));
        char? byConfig = _expected.Keys.Cast<char?>().FirstOrDefault(v => _expected[v!.Value].Config.AsSpan().SequenceEqual(config));
        char? byTensors = _expected.Keys.Cast<char?>().FirstOrDefault(v => Same(_expected[v!.Value].Tensors, tensors));
        if (byConfig is null || byTensors is null || byConfig != byTensors)
            throw new Xunit.Sdk.XunitException($"'{folder}' holds a mix: config of version {byConfig?.ToString() ?? "neither"}, tensors of version {byTensors?.ToString() ?? "neither"}");
        return byConfig.Value;
    }

    static bool Same(Dictionary<string, byte[]> a, Dictionary<string, byte[]> b)
        => a.Count == b.Count && a.All(kv => b.TryGetValue(kv.Key, out var other) && kv.Value.AsSpan().SequenceEqual(other));
}

/// <summary>Runs tests/Engine.SaveKillChild and kills it (kill -9, whole process tree) a given time after its warm-up.</summary>
static class KilledSave
{
    static string Host => Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } path && File.Exists(path) ? path : "dotnet";

    /// <summary>Starts the child saving <paramref name="kind"/> into <paramref name="folder"/>, kills it <paramref name="delay"/> after "ready", and returns every line it printed after "ready".</summary>
    public static List<string> Run(string kind, string folder, char first, TimeSpan delay)
    {
        var info = new ProcessStartInfo(Host) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Engine.SaveKillChild.dll"));
        info.ArgumentList.Add(kind);
        info.ArgumentList.Add(folder);
        info.ArgumentList.Add(first.ToString());
        using var process = new Process { StartInfo = info };
        var lines = new BlockingCollection<string>();
        var errors = new ConcurrentQueue<string>();
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lines.Add(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) errors.Enqueue(e.Data); };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            if (!lines.TryTake(out var ready, TimeSpan.FromSeconds(60)) || ready != "ready")
                throw new Xunit.Sdk.XunitException($"Engine.SaveKillChild did not get ready (first line: {ready ?? "none"}; exited: {process.HasExited}): {string.Join(Environment.NewLine, errors)}");
            var clock = Stopwatch.StartNew();
            while (clock.Elapsed < delay) Thread.SpinWait(20);
        }
        finally
        {
            process.Kill(entireProcessTree: true);
            // Waits for the end of the redirected output too, so every line printed before the kill is in.
            process.WaitForExit();
        }
        lines.CompleteAdding();
        return lines.ToList();
    }
}
