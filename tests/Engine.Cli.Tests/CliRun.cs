using Xunit;

namespace Engine.Cli.Tests;

/// <summary>Tests that swap Console.Out/Error run one at a time.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ConsoleCollection
{
    public const string Name = "console";
}

/// <summary>The outcome of one in-process <c>engine</c> invocation.</summary>
public sealed record CliResult(int ExitCode, string Out, string Error);

/// <summary>Runs the engine command line in-process with the console captured.</summary>
public static class CliRun
{
    public static string Golden => Path.Combine(AppContext.BaseDirectory, "golden", "gpt2-tiny");

    public static CliResult Invoke(params string[] args)
    {
        var (oldOut, oldError) = (Console.Out, Console.Error);
        var (output, error) = (new StringWriter(), new StringWriter());
        try
        {
            Console.SetOut(output);
            Console.SetError(error);
            int code = EngineCommand.Run(args);
            return new CliResult(code, output.ToString(), error.ToString());
        }
        finally
        {
            Console.SetOut(oldOut);
            Console.SetError(oldError);
        }
    }

    /// <summary>A fresh empty folder under the temp directory.</summary>
    public static string TempFolder()
    {
        var path = Path.Combine(Path.GetTempPath(), "engine-cli-tests-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(path);
        return path;
    }
}
