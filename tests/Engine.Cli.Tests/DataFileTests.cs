using System.Text;
using Xunit;

namespace Engine.Cli.Tests;

/// <summary>Data files that cannot make a meaningful run are refused in one line naming the file, before training.</summary>
[Collection(ConsoleCollection.Name)]
public sealed class DataFileTests
{
    static string Write(string name, byte[] bytes)
    {
        var path = Path.Combine(CliRun.TempFolder(), name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    [Theory]
    [InlineData(0, "0 name(s)")]
    [InlineData(1, "1 name(s)")]
    [InlineData(6, "6 names")]
    public void NamesTooFewForTrainingAndValidation_AreRefused(int count, string mention)
    {
        var names = new[] { "anna", "bob", "cara", "dan", "eve", "fay" }.Take(count);
        var path = Write("names.txt", Encoding.UTF8.GetBytes(string.Join("\n", names)));
        var result = CliRun.Invoke("train", "--data", path, "--steps", "1", "--out", Path.Combine(CliRun.TempFolder(), "c.safetensors"));
        CliAssert.OneLineUserError(result, "train", "--data", path, mention);
        Assert.DoesNotContain("step", result.Out);
    }

    [Theory]
    [InlineData("train", "--data")]
    [InlineData("classify", "--data")]
    [InlineData("embed", "--file")]
    public void InvalidUtf8_IsAnErrorNamingTheFileLineAndByte(string command, string option)
    {
        // Line 2 starts at byte 5 ("anna\n"); its third byte is 0xFF, never valid in UTF-8.
        var bytes = Encoding.UTF8.GetBytes("anna\nbo").Concat(new byte[] { 0xFF }).Concat(Encoding.UTF8.GetBytes("b\ncara\n")).ToArray();
        var path = Write("data.txt", bytes);
        var result = CliRun.Invoke(command, option, path);
        CliAssert.OneLineUserError(result, command, option, path, "UTF-8", "line 2", "byte offset 7");
    }

    [Theory]
    [InlineData(5)]
    [InlineData(-1)]
    public void ClassifyLabelsOtherThan0And1_AreErrorsNamingTheLine(int label)
    {
        var lines = new[]
        {
            "{\"subject\": \"a\", \"body\": \"b\", \"label\": 0}",
            "",
            $"{{\"subject\": \"c\", \"body\": \"d\", \"label\": {label}}}",
            "{\"subject\": \"e\", \"body\": \"f\", \"label\": 1}",
        };
        var path = Write("spam.jsonl", Encoding.UTF8.GetBytes(string.Join("\n", lines)));
        var result = CliRun.Invoke("classify", "--data", path, "--steps", "1", "--length", "8");
        CliAssert.OneLineUserError(result, "classify", "--data", path, "line 3", $"label {label}");
    }
}
