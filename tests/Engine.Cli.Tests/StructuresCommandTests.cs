using Xunit;

namespace Engine.Cli.Tests;

/// <summary><c>engine structures</c>: every structure trains and is measured; the equal-parameter sizing holds; bad names are one-line errors.</summary>
[Collection(ConsoleCollection.Name)]
public class StructuresCommandTests
{
    [Fact]
    public void EveryStructure_TrainsAndIsMeasured_AtAboutTheDenseParameterCount()
    {
        var rows = StructuresCommand.Run("female", steps: 2, batch: 2, context: 8, width: 32, lr: 3e-3, only: null, seed: 1, TextWriter.Null);
        Assert.Equal(StructuresCommand.Names, rows.Select(r => r.Name).ToArray());
        long dense = rows.Single(r => r.Name == "dense").Parameters;
        foreach (var r in rows)
        {
            Assert.True(double.IsFinite(r.ValidationLoss) && r.ValidationLoss > 0, $"{r.Name}: loss {r.ValidationLoss}");
            Assert.True(r.TrainTokensPerSecond > 0 && r.GenerationTokensPerSecond > 0, $"{r.Name}: speeds");
            // Sized to the dense count (the relaxed recursive model is the dense one converted: smaller by construction).
            if (r.Name != StructuresCommand.RelaxedName)
                Assert.InRange(r.Parameters, dense * 0.8, dense * 1.25);
        }
        Assert.Contains("| dense |", StructuresCommand.Table(rows));
    }

    [Fact]
    public void AnUnknownStructure_IsAOneLineUserError() =>
        CliAssert.OneLineUserError(CliRun.Invoke("structures", "--only", "dense,bogus", "--steps", "1"), "structures", "'bogus'");
}
