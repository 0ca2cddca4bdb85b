using System.Diagnostics;
using System.Globalization;
using Engine.Fuzz;

// engine-fuzz [--long] [--cases N] [--seed S]: mutated safetensors files, GPT-2 folders and adapter folders
// (see Fuzzer); exit code 1 when any case breaks a promise.
var options = new FuzzOptions();
for (int i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--long": options = options with { CasesPerTarget = 100_000 / 3 + 1 }; break;
        case "--cases" when i + 1 < args.Length: options = options with { CasesPerTarget = int.Parse(args[++i], CultureInfo.InvariantCulture) }; break;
        case "--seed" when i + 1 < args.Length: options = options with { Seed = int.Parse(args[++i], CultureInfo.InvariantCulture) }; break;
        default:
            Console.Error.WriteLine("usage: Engine.Fuzz [--long] [--cases N (per target)] [--seed S]");
            return 2;
    }
}
var clock = Stopwatch.StartNew();
var report = new Fuzzer(options).Run();
Console.Write(report.Format());
Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
    $"{report.CaseCount} cases, {report.FailureCount} failures, seed {options.Seed}, {clock.Elapsed.TotalSeconds:F0} s"));
return report.FailureCount == 0 ? 0 : 1;
