using System.CommandLine;
using System.CommandLine.Invocation;
using Engine.Backends.Cpu;

namespace Engine.Cli;

/// <summary>
/// The <c>engine</c> command line: the root command with every subcommand, and the entry point that runs it.
/// Example: <c>return EngineCommand.Run(["inspect", "models/gpt2"]);</c>
/// </summary>
public static class EngineCommand
{
    /// <summary>The global <c>--verbose</c> option: a failure's full stack trace after its one-line message.</summary>
    public static readonly Option<bool> Verbose = new("--verbose") { Description = "on failure, print the stack trace after the one-line message", Recursive = true };

    /// <summary>Builds the root command with its subcommands: train, finetune, zoo, merge, sample, generate, logits, inspect, demo, ...</summary>
    public static RootCommand Build()
    {
        var root = new RootCommand("engine: a pure-managed C# tensor engine with autograd");
        root.Options.Add(Verbose);
        root.Subcommands.Add(TrainCommand.Create());
        root.Subcommands.Add(OptimizersCommand.Create());
        root.Subcommands.Add(FinetuneCommand.Create());
        root.Subcommands.Add(ZooCommand.Create());
        root.Subcommands.Add(MultitaskCommand.Create());
        root.Subcommands.Add(MergeTasksCommand.Create());
        root.Subcommands.Add(FederatedCommand.Create());
        root.Subcommands.Add(MergeCommand.Create());
        root.Subcommands.Add(IntrinsicDimCommand.Create());
        root.Subcommands.Add(SampleCommand.Create());
        root.Subcommands.Add(CompressCommand.Create());
        root.Subcommands.Add(GenerateCommand.Create());
        root.Subcommands.Add(LogitsCommand.Create());
        root.Subcommands.Add(InspectCommand.Create());
        root.Subcommands.Add(DiffCommand.Create());
        root.Subcommands.Add(ConvertCommand.Create());
        root.Subcommands.Add(StructuresCommand.Create());
        root.Subcommands.Add(NasCommand.Create());
        root.Subcommands.Add(StateTrackingCommand.Create());
        root.Subcommands.Add(ForecastCommand.Create());
        root.Subcommands.Add(ClassifyCommand.Create());
        root.Subcommands.Add(PredictCommand.Create());
        root.Subcommands.Add(ContrastiveCommand.Create());
        root.Subcommands.Add(TaskExpertsCommand.Create());
        root.Subcommands.Add(TtaCommand.Create());
        root.Subcommands.Add(MmrlCommand.Create());
        root.Subcommands.Add(AutoloraCommand.Create());
        root.Subcommands.Add(AnalyzeCommand.Create());
        root.Subcommands.Add(EmbedCommand.Create());
        root.Subcommands.Add(LongRangeCommand.Create());
        root.Subcommands.Add(DemoCommand.Create());
        root.Subcommands.Add(B4mCommand.Create());
        return root;
    }

    /// <summary>
    /// Parses <paramref name="args"/> and runs the command. Returns 0 on success; 2 on a user error, printed as
    /// <c>engine &lt;command&gt;: &lt;message&gt;</c> in one line: a command-line mistake or a value outside its
    /// option's rule (refused before any work starts), a bad environment setting, a bad path, file or size, a run whose
    /// loss diverged; 1 on an unexpected failure (<see cref="CommandErrors"/>).
    /// </summary>
    public static int Run(string[] args)
    {
        var result = Build().Parse(args);
        string command = result.CommandResult.Command is RootCommand ? "engine" : $"engine {result.CommandResult.Command.Name}";
        if (result.Action is ParseErrorAction)
        {
            var errors = result.Errors.Select(e => e.Message).Distinct().ToList();
            for (int i = 0; i < errors.Count; i++)
                Console.Error.WriteLine($"{command}: {errors[i]}" + (i == errors.Count - 1 ? $" (see `{command} --help`)" : ""));
            return CommandErrors.UserError;
        }
        // A mistyped memory setting would otherwise be ignored without a word.
        if (Environment.GetEnvironmentVariable(CpuArrayPool.EnvironmentVariable) is { } pool && !CpuArrayPool.TryParseMegabytes(pool, out _))
        {
            Console.Error.WriteLine($"{command}: the environment variable {CpuArrayPool.EnvironmentVariable} must be a whole number of megabytes (0 or more), got '{pool}'; fix or unset it");
            return CommandErrors.UserError;
        }
        return CommandErrors.Invoke(result, command, result.GetValue(Verbose));
    }
}
