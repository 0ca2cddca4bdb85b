using System.CommandLine;

namespace Engine.Cli;

/// <summary>
/// <c>engine analyze</c>: analysis tools that study a trained model rather than train one (issue 23; spec
/// seeds-remaining.md §8–9). Each tool is one subcommand in its own file under src/Cli/Analyze.
/// </summary>
static class AnalyzeCommand
{
    /// <summary>The <c>analyze</c> group with every analysis subcommand.</summary>
    public static Command Create()
    {
        var command = new Command("analyze", "analysis tools on a trained model: prompt reachability, loss-landscape degeneracy");
        command.Subcommands.Add(ReachabilityCommand.Create());
        command.Subcommands.Add(LlcCommand.Create());
        command.Subcommands.Add(LibCommand.Create());
        return command;
    }
}
