using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Engine.Peft;

namespace Engine.Cli;

/// <summary>
/// <c>engine zoo</c>: every registered adapter method (and its named variants, and full fine-tuning) on the names job,
/// with the same step budget and each method's tuned learning rate, one child process per method so that peak memory
/// is each method's own. Writes the table (trainable parameters, validation loss, tokens/s, peak memory) to standard
/// output and, with <c>--readme</c>, between the zoo markers of the README. A method registered tomorrow gets its row
/// without any change here.
/// </summary>
static class ZooCommand
{
    /// <summary>The README markers the table is written between.</summary>
    public const string Begin = "<!-- zoo:begin -->", End = "<!-- zoo:end -->";

    public static Command Create()
    {
        var checkpoint = new Option<string?>("--checkpoint") { Description = "names model of `engine train` to adapt; by default one is pretrained on the female names first" };
        var pretrain = new Option<int>("--pretrain-steps") { Description = "steps of the pretraining when no checkpoint is given", DefaultValueFactory = _ => 300 };
        var steps = new Option<int>("--steps") { Description = "fine-tuning steps per method", DefaultValueFactory = _ => 100 };
        var rank = new Option<int>("--rank") { Description = "the size knob of every method's preset", DefaultValueFactory = _ => 8 };
        var methods = new Option<string[]>("--methods") { Description = "only these methods (default: all registered, their variants and full)", Arity = ArgumentArity.ZeroOrMore, AllowMultipleArgumentsPerToken = true };
        var readme = new Option<string?>("--readme") { Description = $"write the table into this file between {Begin} and {End}" };
        var isolate = new Option<bool>("--isolate") { Description = "run each method in its own process (true: per-method peak memory)", DefaultValueFactory = _ => true };
        var command = new Command("zoo", "run every registered adapter method on the names job and tabulate parameters, loss, speed and memory");
        foreach (var o in new Option[] { checkpoint, pretrain, steps, rank, methods, readme, isolate }) command.Options.Add(o);
        command.SetAction(r => CommandErrors.Run("zoo", () => Run(r.GetValue(checkpoint), r.GetValue(pretrain), r.GetValue(steps), r.GetValue(rank),
            r.GetValue(methods) is { Length: > 0 } m ? m : null, r.GetValue(readme), r.GetValue(isolate))));
        return command;
    }

    static int Run(string? checkpoint, int pretrainSteps, int steps, int rank, string[]? only, string? readme, bool isolate)
    {
        if (steps < 1 || rank < 1 || pretrainSteps < 1) throw new ArgumentException($"--steps, --rank and --pretrain-steps must be positive, got {steps}, {rank}, {pretrainSteps}");
        if (readme is not null && !File.ReadAllText(readme).Contains(Begin)) throw new ArgumentException($"--readme '{readme}' has no {Begin} marker");
        var all = NamesAdaptation.MethodNames().ToList();
        var chosen = only ?? all.ToArray();
        foreach (var m in chosen) if (!all.Contains(m)) throw new ArgumentException($"--methods: no method named '{m}'; methods: {string.Join(", ", all)}");
        var work = Path.Combine(Path.GetTempPath(), "engine-zoo-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(work);
        try
        {
            if (checkpoint is null)
            {
                checkpoint = Path.Combine(work, "female.safetensors");
                Console.WriteLine($"pretraining a names model ({pretrainSteps} steps on the female names)...");
                int status = EngineCommand.Run(["train", "--data", "female", "--steps", $"{pretrainSteps}", "--eval-every", $"{pretrainSteps}", "--samples", "0", "--out", checkpoint]);
                if (status != 0) return status;
            }
            var rows = new List<NamesAdaptation.Result>();
            foreach (var method in chosen)
            {
                Console.WriteLine($"zoo: {method} ...");
                rows.Add(isolate ? RunChild(checkpoint, method, steps, rank, work) : RunHere(checkpoint, method, steps, rank));
            }
            var table = Table(rows, steps, rank);
            Console.WriteLine();
            Console.WriteLine(table);
            if (readme is not null) WriteBetweenMarkers(readme, table);
            return 0;
        }
        finally { Directory.Delete(work, recursive: true); }
    }

    static NamesAdaptation.Result RunHere(string checkpoint, string method, int steps, int rank)
    {
        var config = NamesAdaptation.ConfigFor(method, rank, steps, 1, new Dictionary<string, string>());
        return NamesAdaptation.Run(checkpoint, method, config, "male", steps, 32, FinetuneCommand.TunedLearningRate(method), 1, TextWriter.Null, out _, out _);
    }

    static NamesAdaptation.Result RunChild(string checkpoint, string method, int steps, int rank, string work)
    {
        var json = Path.Combine(work, method + ".json");
        var start = new ProcessStartInfo { FileName = Environment.ProcessPath!, RedirectStandardOutput = true, RedirectStandardError = true };
        // Started as `dotnet engine.dll`: the child needs the dll too.
        if (Path.GetFileNameWithoutExtension(Environment.ProcessPath!) == "dotnet") start.ArgumentList.Add(typeof(ZooCommand).Assembly.Location);
        foreach (var a in new[] { "finetune", "--checkpoint", checkpoint, "--adapter", method, "--steps", $"{steps}", "--rank", $"{rank}", "--json", json })
            start.ArgumentList.Add(a);
        using var child = Process.Start(start) ?? throw new IOException($"zoo: could not start {start.FileName}");
        var stdout = child.StandardOutput.ReadToEndAsync();
        var stderr = child.StandardError.ReadToEnd();
        child.WaitForExit();
        if (child.ExitCode != 0 || !File.Exists(json))
            throw new InvalidOperationException($"zoo: method '{method}' failed (exit {child.ExitCode}): {stderr.Trim()} {stdout.Result.Trim().Split('\n').LastOrDefault()}");
        return JsonSerializer.Deserialize<NamesAdaptation.Result>(File.ReadAllText(json))!;
    }

    /// <summary>The Markdown table of <paramref name="rows"/>, headed by the job and the machine.</summary>
    public static string Table(IReadOnlyList<NamesAdaptation.Result> rows, int steps, int rank)
    {
        var sb = new StringBuilder();
        sb.AppendLine(FormattableString.Invariant($"Names job: female-names GPT adapted to male names, {steps} steps of batch 32, `--rank {rank}`, each method's tuned learning rate; {CpuModel()}, {Environment.ProcessorCount} cores, {DateTime.UtcNow:yyyy-MM-dd}. `dotnet run -c Release --project src/Cli -- zoo --readme README.md`"));
        sb.AppendLine();
        sb.AppendLine("| method | peft_type | mergeable | lr | trainable | total | trainable % | val loss before | val loss after | ms/step | tokens/s | peak MiB |");
        sb.AppendLine("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var r in rows)
        {
            string type = "-", mergeable = "yes";
            if (r.Method != NamesAdaptation.Full)
            {
                var info = PeftRegistry.ByCliName(r.Method).Method;
                type = info.PeftType;
                mergeable = info.Capabilities.HasFlag(AdapterCapabilities.Mergeable) ? "yes" : "no";
            }
            sb.AppendLine(string.Create(CultureInfo.InvariantCulture,
                $"| {r.Method} | {type} | {mergeable} | {r.Lr:G3} | {r.Trainable:N0} | {r.Total:N0} | {100.0 * r.Trainable / r.Total:F2} | {r.LossBefore:F4} | {r.LossAfter:F4} | {r.MsPerStep:F1} | {r.TokensPerSecond:F0} | {r.PeakMiB:F0} |"));
        }
        return sb.ToString().TrimEnd();
    }

    static void WriteBetweenMarkers(string path, string table)
    {
        var text = File.ReadAllText(path);
        int begin = text.IndexOf(Begin, StringComparison.Ordinal), end = text.IndexOf(End, StringComparison.Ordinal);
        if (begin < 0 || end < begin) throw new ArgumentException($"--readme '{path}' needs {Begin} before {End}");
        var updated = text[..(begin + Begin.Length)] + "\n" + table + "\n" + text[end..];
        var temporary = path + ".tmp";
        File.WriteAllText(temporary, updated);
        File.Move(temporary, path, overwrite: true);
    }

    static string CpuModel()
    {
        try
        {
            var line = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal));
            if (line is not null) return line[(line.IndexOf(':') + 1)..].Trim();
        }
        catch (IOException) { }
        return System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture.ToString();
    }
}
