using Xunit;

namespace Engine.Cli.Tests;

/// <summary>Tests that swap Console.Out/Error run one at a time.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ConsoleCollection
{
    /// <summary>The collection name that the console-capturing test classes share.</summary>
    public const string Name = "console";
}

/// <summary>The outcome of one in-process <c>engine</c> invocation: exit code, captured stdout and stderr.</summary>
public sealed record CliResult(int ExitCode, string Out, string Error);

/// <summary>Runs the engine command line in-process with the console captured.</summary>
public static class CliRun
{
    /// <summary>The tiny Hugging Face GPT-2 folder copied next to the test assembly.</summary>
    public static string Golden => Path.Combine(AppContext.BaseDirectory, "golden", "gpt2-tiny");

    /// <summary>Runs <c>engine</c> with <paramref name="args"/> through <see cref="EngineCommand.Run"/>, capturing the console.</summary>
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
