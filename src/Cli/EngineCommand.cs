using System.CommandLine;
using System.CommandLine.Invocation;

namespace Engine.Cli;

/// <summary>
/// The <c>engine</c> command line: the root command with every subcommand, and the entry point that runs it.
/// Example: <c>return EngineCommand.Run(["inspect", "models/gpt2"]);</c>
/// </summary>
public static class EngineCommand
{
    /// <summary>Builds the root command with its subcommands: train, finetune, zoo, sample, generate, logits, inspect, demo.</summary>
    public static RootCommand Build()
    {
        var root = new RootCommand("engine: a pure-managed C# tensor engine with autograd");
        root.Subcommands.Add(TrainCommand.Create());
        root.Subcommands.Add(FinetuneCommand.Create());
        root.Subcommands.Add(ZooCommand.Create());
        root.Subcommands.Add(SampleCommand.Create());
        root.Subcommands.Add(GenerateCommand.Create());
        root.Subcommands.Add(LogitsCommand.Create());
        root.Subcommands.Add(InspectCommand.Create());
        root.Subcommands.Add(StateTrackingCommand.Create());
        root.Subcommands.Add(ClassifyCommand.Create());
        root.Subcommands.Add(PredictCommand.Create());
        root.Subcommands.Add(EmbedCommand.Create());
        root.Subcommands.Add(LongRangeCommand.Create());
        root.Subcommands.Add(DemoCommand.Create());
        return root;
    }

    /// <summary>
    /// Parses <paramref name="args"/> and runs the command. Returns 0 on success and 2 on a user error: a command-line
    /// mistake (printed as <c>engine &lt;command&gt;: &lt;message&gt;</c>, one line per mistake) or a bad path, file or value.
    /// </summary>
    public static int Run(string[] args)
    {
        var result = Build().Parse(args);
        if (result.Action is ParseErrorAction)
        {
            string command = result.CommandResult.Command is RootCommand ? "engine" : $"engine {result.CommandResult.Command.Name}";
            foreach (var error in result.Errors) Console.Error.WriteLine($"{command}: {error.Message}");
            Console.Error.WriteLine($"see `{command} --help`");
            return CommandErrors.UserError;
        }
        return result.Invoke();
    }
}
