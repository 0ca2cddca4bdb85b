using System.Globalization;
using System.Text.RegularExpressions;
using Xunit;

namespace Engine.Cli.Tests;

/// <summary><c>engine merge-tasks</c>: FlyLoRA's interference figure (issue 17) on a tiny names model.</summary>
[Collection(ConsoleCollection.Name)]
public class MergeTasksCommandTests
{
    [Fact]
    public void TrainsTwoTaskAdaptersPerMethod_AndReportsTheMergeIncrease()
    {
        var result = CliRun.Invoke("merge-tasks", "--checkpoint", TinyNamesModel.File, "--steps", "2", "--batch", "2", "--rank", "2");
        Assert.True(result.ExitCode == 0, result.Error);
        foreach (var method in new[] { "flylora", "lora" })
        {
            var row = Regex.Match(result.Out, $@"^\| {method} \| [\d,]+ \| (.+) \| (-?\d+\.\d{{4}}) \|\s*$", RegexOptions.Multiline);
            Assert.True(row.Success, result.Out);
            // Each task cell is "base / single / merged (increase, signed)": the increase is merged − single, and the last
            // column their mean, recomputed here from the printed numbers.
            var cells = row.Groups[1].Value.Split(" | ");
            Assert.Equal(2, cells.Length);
            var increases = cells.Select(c =>
            {
                var m = Regex.Match(c, @"^(\d+\.\d{4}) / (\d+\.\d{4}) / (\d+\.\d{4}) \(([+-]\d+\.\d{4})\)$");
                Assert.True(m.Success, c);
                double single = double.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture), merged = double.Parse(m.Groups[3].Value, CultureInfo.InvariantCulture);
                double increase = double.Parse(m.Groups[4].Value, CultureInfo.InvariantCulture);
                Assert.Equal(merged - single, increase, 3);
                return increase;
            }).ToArray();
            Assert.Equal(increases.Average(), double.Parse(row.Groups[2].Value, CultureInfo.InvariantCulture), 3);
        }
    }

    [Fact]
    public void AMethodOtherThanFlyLoraOrLora_IsAOneLineUserError()
    {
        CliAssert.OneLineUserError(CliRun.Invoke("merge-tasks", "--checkpoint", TinyNamesModel.File, "--adapter", "dora", "--steps", "1"),
            "merge-tasks", "--adapter dora", "flylora and lora");
    }
}
