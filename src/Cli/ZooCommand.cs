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
        var pretrain = ValidatedOption.Integer("--pretrain-steps", "steps of the pretraining when no checkpoint is given", 300, min: 1);
        var steps = ValidatedOption.Integer("--steps", "fine-tuning steps per method", 100, min: 1);
        var rank = ValidatedOption.Integer("--rank", "the size knob of every method's preset", 8, min: 1);
        var methods = new Option<string[]>("--methods") { Description = "only these methods (default: all registered, their variants and full)", Arity = ArgumentArity.ZeroOrMore, AllowMultipleArgumentsPerToken = true };
        var readme = new Option<string?>("--readme") { Description = $"write the table into this file between {Begin} and {End}" };
        var spamSteps = ValidatedOption.Integer("--spam-steps", "steps of the MiniLM spam job per layer method (0: no spam column)", 40, min: 0, max: 100_000);
        var update = new Option<bool>("--update") { Description = "with --readme: replace only the rows of the methods run (--methods) and keep the table's other rows" };
        var isolate = new Option<bool>("--isolate") { Description = "run each method in its own process (true: per-method peak memory)", DefaultValueFactory = _ => true };
        var command = new Command("zoo", "run every registered adapter method on the names job and tabulate parameters, loss, speed and memory");
        foreach (var o in new Option[] { checkpoint, pretrain, steps, rank, methods, readme, spamSteps, isolate, update }) command.Options.Add(o);
        command.SetAction(r => Run(r.GetValue(checkpoint), r.GetValue(pretrain), r.GetValue(steps), r.GetValue(rank),
            r.GetValue(methods) is { Length: > 0 } m ? m : null, r.GetValue(readme), r.GetValue(spamSteps), r.GetValue(isolate), r.GetValue(update)));
        PlotOption.AddTo(command, r => PlotFiles.ForZoo(r.GetValue(readme)), "write zoo.svg (beside --readme, else here): validation loss against trainable parameters per method");
        return command;
    }

    static int Run(string? checkpoint, int pretrainSteps, int steps, int rank, string[]? only, string? readme, int spamSteps, bool isolate, bool update)
    {
        if (update && readme is null) throw new ArgumentException("--update needs --readme: it keeps the other rows of that file's table");
        if (readme is not null && !File.ReadAllText(readme).Contains(Begin)) throw new ArgumentException($"--readme '{readme}' has no {Begin} marker");
        var all = NamesAdaptation.MethodNames().ToList();
        var chosen = only ?? all.ToArray();
        foreach (var m in chosen) if (!all.Contains(m)) throw new ArgumentException($"--methods: no method named '{m}'; methods: {string.Join(", ", all)}");
        if (checkpoint is not null) NamesModelFile.ReadConfig(checkpoint); // a bad checkpoint is named now, not by every method's run
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
            var spam = new Dictionary<string, ClassifyMiniLm.SpamResult>();
            foreach (var method in chosen)
            {
                Console.WriteLine($"zoo: {method} ...");
                rows.Add(isolate ? RunChild(checkpoint, method, steps, rank, work) : RunHere(checkpoint, method, steps, rank));
                if (spamSteps > 0 && SpamMethod(method) is { } spamMethod)
                {
                    Console.WriteLine($"zoo: {method} on MiniLM spam ...");
                    spam[method] = isolate ? RunSpam(spamMethod, spamSteps, work) : RunSpamHere(spamMethod, spamSteps, work);
                }
            }
            var table = Table(rows, steps, rank, spam, spamSteps);
            Console.WriteLine();
            Console.WriteLine(table);
            if (update) table = ZooTableRows.Merge(BetweenMarkers(readme!), table, all);
            if (readme is not null) WriteBetweenMarkers(readme, table);
            ZooPlot.Record(table, steps, rank);
            return 0;
        }
        finally { Directory.Delete(work, recursive: true); }
    }

    static NamesAdaptation.Result RunHere(string checkpoint, string method, int steps, int rank)
    {
        var config = NamesAdaptation.ConfigFor(method, rank, steps, 1, new Dictionary<string, string>());
        return NamesAdaptation.Run(checkpoint, method, config, "male", steps, 32, FinetuneCommand.TunedLearningRate(method), 1, TextWriter.Null, out _, out _);
    }

    static NamesAdaptation.Result RunChild(string checkpoint, string method, int steps, int rank, string work) =>
        RunEngine<NamesAdaptation.Result>(method, Path.Combine(work, method + ".json"),
            ["finetune", "--checkpoint", checkpoint, "--adapter", method, "--steps", $"{steps}", "--rank", $"{rank}"]);

    // The MiniLM spam job's adapter for a zoo row: layer methods as they are, full as the head alone (the pretrained
    // encoder stays frozen), none for input-side methods (classify adapts layers) nor for methods that wrap only the
    // GPT's MultiHeadAttention (adaption prompt), which BERT does not have.
    static string? SpamMethod(string method) =>
        method == NamesAdaptation.Full ? "head" : PeftRegistry.ByCliName(method).Method is { LayerType: not null } m
            && !m.Attribute.Wraps.All(t => t == typeof(Engine.Nn.MultiHeadAttention)) && !m.Capabilities.HasFlag(AdapterCapabilities.InputSide)
            && !NeedsSourceTasks(method) ? method : null;

    // ScaLearn's preset needs source adapters trained on other tasks first: the spam job has only one task (issue 18).
    static bool NeedsSourceTasks(string method)
    {
        var (info, variant) = PeftRegistry.ByCliName(method);
        return info.Preset(AdapterPreset.ForBert(8, 1, 1), variant) is Engine.Peft.Transfer.ScaLearnConfig { SourcesNeedTraining: true };
    }

    static ClassifyMiniLm.SpamResult RunSpam(string method, int steps, string work) =>
        RunEngine<ClassifyMiniLm.SpamResult>(method, Path.Combine(work, method + ".spam.json"),
            ["classify", "--model", "minilm", "--adapter", method, "--steps", $"{steps}", "--length", $"{SpamTokens}"]);

    static ClassifyMiniLm.SpamResult RunSpamHere(string method, int steps, string work)
    {
        var json = Path.Combine(work, method + ".spam.json");
        var learningRate = method == "head" ? 2e-2 : 2e-3;
        using (var quiet = new StringWriter())
        {
            var console = Console.Out;
            Console.SetOut(quiet);
            try { ClassifyMiniLm.Run(ClassifyCommand.Load("spamassassin"), method, steps, SpamTokens, learningRate, 1, output: null, json); }
            finally { Console.SetOut(console); }
        }
        return JsonSerializer.Deserialize<ClassifyMiniLm.SpamResult>(File.ReadAllText(json))!;
    }

    /// <summary>Tokens per message in the zoo's MiniLM spam job (shorter than classify's 128, so the column takes minutes).</summary>
    const int SpamTokens = 64;

    // Runs `engine <arguments> --json <json>` in a child process (per-method peak memory) and reads what it wrote.
    static T RunEngine<T>(string method, string json, string[] arguments)
    {
        var start = new ProcessStartInfo { FileName = Environment.ProcessPath!, RedirectStandardOutput = true, RedirectStandardError = true };
        // Started as `dotnet engine.dll`: the child needs the dll too.
        if (Path.GetFileNameWithoutExtension(Environment.ProcessPath!) == "dotnet") start.ArgumentList.Add(typeof(ZooCommand).Assembly.Location);
        foreach (var a in arguments.Concat(["--json", json])) start.ArgumentList.Add(a);
        using var child = Process.Start(start) ?? throw new IOException($"zoo: could not start {start.FileName}");
        var stdout = child.StandardOutput.ReadToEndAsync();
        var stderr = child.StandardError.ReadToEnd();
        child.WaitForExit();
        // A child's user error (exit 2) is the user's to fix here too; anything else is a bug.
        if (child.ExitCode == CommandErrors.UserError)
            throw new InvalidDataException($"zoo: method '{method}': {stderr.Trim()}");
        if (child.ExitCode != 0 || !File.Exists(json))
            throw new InvalidOperationException($"zoo: method '{method}' failed (exit {child.ExitCode}): {stderr.Trim()} {stdout.Result.Trim().Split('\n').LastOrDefault()}");
        return JsonSerializer.Deserialize<T>(File.ReadAllText(json))!;
    }

    /// <summary>The Markdown table of <paramref name="rows"/>, headed by the job and the machine.</summary>
    public static string Table(IReadOnlyList<NamesAdaptation.Result> rows, int steps, int rank,
        IReadOnlyDictionary<string, ClassifyMiniLm.SpamResult>? spam = null, int spamSteps = 0)
    {
        bool withSpam = spam is { Count: > 0 };
        var sb = new StringBuilder();
        sb.AppendLine(FormattableString.Invariant($"Names job: female-names GPT adapted to male names, {steps} steps of batch 32, `--rank {rank}`, each method's tuned learning rate; {CpuModel()}, {Environment.ProcessorCount} cores, {DateTime.UtcNow:yyyy-MM-dd}. `dotnet run -c Release --project src/Cli -- zoo --readme README.md`"));
        if (withSpam)
            sb.AppendLine(FormattableString.Invariant($"MiniLM spam job: `engine classify --model minilm --adapter METHOD --steps {spamSteps} --length {SpamTokens}` (frozen all-MiniLM-L6-v2, batch 16, lr 2e-3; the full row trains the head alone at 2e-2; prompt and prefix tuning adapt inputs, which classify does not run): held-out accuracy and F1, training seconds."));
        sb.AppendLine();
        sb.AppendLine("| method | peft_type | mergeable | lr | trainable | total | trainable % | val loss before | val loss after | ms/step | tokens/s | peak MiB |" + (withSpam ? " MiniLM spam acc / F1 (s) |" : ""));
        sb.AppendLine("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|" + (withSpam ? "---:|" : ""));
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
                $"| {r.Method} | {type} | {mergeable} | {r.Lr:G3} | {r.Trainable:N0} | {r.Total:N0} | {100.0 * r.Trainable / r.Total:F2} | {r.LossBefore:F4} | {r.LossAfter:F4} | {r.MsPerStep:F1} | {r.TokensPerSecond:F0} | {r.PeakMiB:F0} |")
                + (!withSpam ? "" : spam!.TryGetValue(r.Method, out var s)
                    ? string.Create(CultureInfo.InvariantCulture, $" {100 * s.Accuracy:F1}% / {s.F1:F3} ({s.TrainSeconds:F0}) |") : " n/a |"));
        }
        return sb.ToString().TrimEnd();
    }

    static (string Text, int Begin, int End) Markers(string path)
    {
        var text = File.ReadAllText(path);
        int begin = text.IndexOf(Begin, StringComparison.Ordinal), end = text.IndexOf(End, StringComparison.Ordinal);
        if (begin < 0 || end < begin) throw new ArgumentException($"--readme '{path}' needs {Begin} before {End}");
        return (text, begin, end);
    }

    static string BetweenMarkers(string path)
    {
        var (text, begin, end) = Markers(path);
        return text[(begin + Begin.Length)..end];
    }

    static void WriteBetweenMarkers(string path, string table)
    {
        var (text, begin, end) = Markers(path);
        var updated = text[..(begin + Begin.Length)] + "\n" + table + "\n" + text[end..];
        var temporary = path + ".tmp";
        File.WriteAllText(temporary, updated);
        File.Move(temporary, path, overwrite: true);
    }

    /// <summary>The CPU's model name from /proc/cpuinfo (the process architecture where there is none); every table of timings prints it.</summary>
    internal static string CpuModel()
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
