using Xunit;

namespace Engine.Cli.Tests;

public sealed class ZooTableRowsTests
{
    const string Head = "Names job: older\n\n| method | peft_type | mergeable | lr | trainable | total | trainable % | val loss before | val loss after | ms/step | tokens/s | peak MiB |";
    const string Rule = "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|";

    static string Row(string method, string loss) => $"| {method} | X | yes | 0.01 | 1,000 | 2,000 | 50.00 | 2.5000 | {loss} | 1.0 | 1 | 1 |";

    [Fact]
    public void FreshRowsWithoutTheMiniLmColumn_JoinATableThatHasIt_AsNotRun()
    {
        var existing = $"{Head} MiniLM spam acc / F1 (s) |\n{Rule}---:|\n{Row("a", "2.0000")} 90.0% / 0.800 (3) |\n{Row("c", "2.2000")} 91.0% / 0.810 (4) |";
        var fresh = $"Names job: newer\n\n{Head[(Head.IndexOf('|'))..]}\n{Rule}\n{Row("b", "2.1000")}\n{Row("c", "1.9000")}";

        var merged = ZooTableRows.Merge(existing, fresh, ["a", "b", "c"]).Split('\n');

        Assert.Equal("Names job: newer", merged[0]);
        Assert.EndsWith("MiniLM spam acc / F1 (s) |", merged[2]);
        Assert.Equal(Rule + "---:|", merged[3]);
        Assert.Equal($"{Row("a", "2.0000")} 90.0% / 0.800 (3) |", merged[4]);
        Assert.Equal(Row("b", "2.1000") + ZooTableRows.NotRun, merged[5]);
        Assert.Equal(Row("c", "1.9000") + ZooTableRows.NotRun, merged[6]); // the fresh row wins over the old one
        Assert.Equal(7, merged.Length);
        Assert.Equal([("a", 1000L, 2.5, 2.0), ("b", 1000L, 2.5, 2.1), ("c", 1000L, 2.5, 1.9)], ZooTableRows.Points(string.Join("\n", merged)));
    }

    [Fact]
    public void OldRowsWithoutTheMiniLmColumn_JoinAFreshTableThatHasIt_AsNotRun()
    {
        var existing = $"{Head}\n{Rule}\n{Row("a", "2.0000")}";
        var fresh = $"{Head} MiniLM spam acc / F1 (s) |\n{Rule}---:|\n{Row("b", "2.1000")} 90.0% / 0.800 (3) |";

        var merged = ZooTableRows.Merge(existing, fresh, ["b", "a"]).Split('\n');

        Assert.Equal($"{Row("b", "2.1000")} 90.0% / 0.800 (3) |", merged[^2]);
        Assert.Equal(Row("a", "2.0000") + ZooTableRows.NotRun, merged[^1]);
    }
}
