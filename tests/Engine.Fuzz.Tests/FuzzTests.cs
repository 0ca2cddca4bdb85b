using Xunit;
using Xunit.Abstractions;

namespace Engine.Fuzz.Tests;

/// <summary>
/// The fuzz suite in CI: 1,500 mutated cases per target (safetensors files, GPT-2 folders, adapter folders), each
/// within the documented exceptions, the time limit and the allocation bound, with the model unchanged by every adapter
/// load. <c>dotnet run -c Release --project tests/Engine.Fuzz -- --long</c> runs 100,000.
/// </summary>
public class FuzzTests(ITestOutputHelper output)
{
    [Fact]
    public void MutatedFiles_GiveOnlyDocumentedOutcomesWithinTimeAndMemory_AndNeverChangeTheModel()
    {
        var report = new Fuzzer(new FuzzOptions { CasesPerTarget = 1500, Seed = 20261206 }).Run();
        output.WriteLine(report.Format());
        Assert.Equal(4500, report.CaseCount);
        Assert.True(report.FailureCount == 0, report.Format());
        // Every target reaches both sides: files that load and files that are rejected.
        foreach (var (target, outcomes) in report.Outcomes)
        {
            Assert.True(outcomes.GetValueOrDefault("success") > 0, $"{target}: no mutated case loaded");
            Assert.True(outcomes.Where(o => o.Key != "success").Sum(o => o.Value) > 0, $"{target}: no mutated case was rejected");
        }
    }

    [Fact]
    public void Checks_CanFail_WhenTheLimitsAreImpossible()
    {
        var report = new Fuzzer(new FuzzOptions { CasesPerTarget = 5, Seed = 3, AllocationPerFileByte = 0, AllocationConstant = 0 }).Run();
        Assert.Equal(15, report.FailureCount);
        Assert.All(report.Failures, f => Assert.Contains("allocated", f.Failure));

        report = new Fuzzer(new FuzzOptions { CasesPerTarget = 5, Seed = 3, TimeLimit = TimeSpan.Zero }).Run();
        Assert.Equal(15, report.FailureCount);
        Assert.All(report.Failures, f => Assert.Contains("took", f.Failure));
    }

    [Fact]
    public void SameSeed_RunsTheSameCases()
    {
        static string Outcomes(FuzzReport r) =>
            string.Join(";", r.Outcomes.OrderBy(t => t.Key).Select(t => t.Key + ":" + string.Join(",", t.Value.OrderBy(o => o.Key).Select(o => $"{o.Key}={o.Value}"))));
        var options = new FuzzOptions { CasesPerTarget = 100, Seed = 77 };
        Assert.Equal(Outcomes(new Fuzzer(options).Run()), Outcomes(new Fuzzer(options).Run()));
    }
}
