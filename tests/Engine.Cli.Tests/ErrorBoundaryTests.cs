using System.CommandLine;
using Xunit;

namespace Engine.Cli.Tests;

/// <summary>The one error boundary: expected failures exit 2, unexpected ones exit 1, each in one line; --verbose adds the trace.</summary>
[Collection(ConsoleCollection.Name)]
public sealed class ErrorBoundaryTests
{
    static CliResult InvokeThrowing(Exception e, bool verbose)
    {
        var command = new Command("boom");
        command.SetAction(new Func<ParseResult, int>(_ => throw e));
        var root = new RootCommand { command };
        var (oldError, error) = (Console.Error, new StringWriter());
        Console.SetError(error);
        try { return new CliResult(CommandErrors.Invoke(root.Parse(["boom"]), "engine boom", verbose), "", error.ToString()); }
        finally { Console.SetError(oldError); }
    }

    static Exception Thrown(Exception e)
    {
        try { throw e; }
        catch (Exception caught) { return caught; }
    }

    [Fact]
    public void ExpectedFailure_IsOneLineAndExitCode2()
        => CliAssert.OneLineUserError(InvokeThrowing(Thrown(new InvalidDataException("'x.bin' is broken")), verbose: false), "boom", "'x.bin' is broken");

    [Fact]
    public void UnexpectedFailure_IsOneLineAndExitCode1_WithTheTraceOnlyUnderVerbose()
    {
        var quiet = InvokeThrowing(Thrown(new InvalidOperationException("a bug")), verbose: false);
        Assert.Equal(1, quiet.ExitCode);
        Assert.Single(quiet.Error.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("engine boom: internal error (InvalidOperationException): a bug", quiet.Error);
        Assert.Contains("--verbose", quiet.Error);

        var verbose = InvokeThrowing(Thrown(new InvalidOperationException("a bug")), verbose: true);
        Assert.Equal(1, verbose.ExitCode);
        Assert.Contains("   at ", verbose.Error);
    }

    [Fact]
    public void Verbose_IsAcceptedByEveryCommand()
    {
        var result = CliRun.Invoke("sample", "--checkpoint", Path.Combine(CliRun.TempFolder(), "none.safetensors"), "--verbose");
        Assert.Equal(2, result.ExitCode);
        Assert.Contains("FileNotFoundException", result.Error);
    }

    [Theory]
    [InlineData("abc")]
    [InlineData("-5")]
    [InlineData("1.5")]
    public void InvalidCpuPoolSetting_IsRefusedInOneLine(string value)
    {
        var old = Environment.GetEnvironmentVariable("ENGINE_CPU_POOL_MB");
        Environment.SetEnvironmentVariable("ENGINE_CPU_POOL_MB", value);
        try { CliAssert.OneLineUserError(CliRun.Invoke("demo"), "demo", "ENGINE_CPU_POOL_MB", $"'{value}'"); }
        finally { Environment.SetEnvironmentVariable("ENGINE_CPU_POOL_MB", old); }
    }

    [Theory]
    [InlineData("0", true)]
    [InlineData("64", true)]
    [InlineData(" 64 ", true)]
    [InlineData("abc", false)]
    [InlineData("-5", false)]
    [InlineData("", false)]
    [InlineData("99999999999999999", false)]
    public void CpuPoolSetting_ParsesWholeMegabytes(string text, bool valid)
    {
        Assert.Equal(valid, Engine.Backends.Cpu.CpuArrayPool.TryParseMegabytes(text, out long bytes));
        if (valid) Assert.Equal(long.Parse(text.Trim()) * 1024 * 1024, bytes);
    }
}
