using Xunit;

namespace Engine.Cli.Tests;

/// <summary>What every refused input must look like to the user.</summary>
public static class CliAssert
{
    /// <summary>
    /// Exit code 2 and exactly one line on stderr, <c>engine &lt;command&gt;: ...</c>, naming each of
    /// <paramref name="mentions"/> (the option or file at fault), with no stack trace.
    /// </summary>
    public static void OneLineUserError(CliResult result, string command, params string[] mentions)
    {
        Assert.True(result.ExitCode == 2, $"exit code {result.ExitCode}; stderr: {result.Error}; stdout: {result.Out}");
        var lines = result.Error.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 1, $"expected one line on stderr, got {lines.Length}: {result.Error}");
        Assert.StartsWith($"engine {command}: ", lines[0]);
        Assert.DoesNotContain("   at ", result.Error);
        Assert.DoesNotContain("Exception", result.Error);
        foreach (var m in mentions) Assert.Contains(m, lines[0]);
    }
}

/// <summary>Tiny names checkpoints of `engine train` (width 16, context 12), each trained once for the tests that need one.</summary>
public static class TinyNamesModel
{
    static readonly Lazy<string> Checkpoint = new(() => Train(1));
    static readonly Lazy<string> TwoLayerCheckpoint = new(() => Train(2));

    /// <summary>The one-layer checkpoint file.</summary>
    public static string File => Checkpoint.Value;

    /// <summary>A two-layer checkpoint file (for conversions that tie layers).</summary>
    public static string TwoLayerFile => TwoLayerCheckpoint.Value;

    static string Train(int layers)
    {
        var path = Path.Combine(CliRun.TempFolder(), $"tiny-{layers}.safetensors");
        var train = CliRun.Invoke("train", "--steps", "1", "--eval-every", "1", "--samples", "0", "--out", path,
            "--width", "16", "--layers", layers.ToString(), "--heads", "2", "--context", "12", "--batch", "2");
        Assert.True(train.ExitCode == 0, train.Error);
        return path;
    }
}
