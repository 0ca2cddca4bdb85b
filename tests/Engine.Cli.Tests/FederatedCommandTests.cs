using System.Globalization;
using System.Text.RegularExpressions;
using Xunit;

namespace Engine.Cli.Tests;

/// <summary><c>engine federated</c>: LoRA-FAIR's comparison (issue 20) on a tiny names model.</summary>
[Collection(ConsoleCollection.Name)]
public class FederatedCommandTests
{
    static double Number(string s) => double.Parse(s, CultureInfo.InvariantCulture);

    [Fact]
    public void PrintsOneRowPerAggregation_WithTheGapsEachRulePromises()
    {
        var result = CliRun.Invoke("federated", "--checkpoint", TinyNamesModel.File, "--clients", "2", "--rounds", "2",
            "--local-steps", "2", "--batch", "2", "--rank", "2");
        Assert.True(result.ExitCode == 0, result.Error);
        var gaps = new Dictionary<string, (double Average, double Global)>();
        var traffic = new Dictionary<string, (double Down, double Up)>();
        foreach (var rule in new[] { "fedavg", "product", "lora-fair" })
        {
            var row = Regex.Match(result.Out, $@"^\| {rule} \| (\d+\.\d{{4}}) \| (\d+\.\d{{4}}) \| (\d+\.\d{{4}}) \| (\d+\.\d{{4}}) \| (\d+\.\d{{4}}) / (\d+\.\d{{4}}) \| (\d+\.\d{{4}}) / (\d+\.\d{{4}}) \| (\d+\.\d{{3}}) / (\d+\.\d{{3}}) \|\s*$", RegexOptions.Multiline);
            Assert.True(row.Success, result.Out);
            // Each rule starts from the same checkpoint and adapter (B = 0): the same loss before.
            Assert.Equal(Number(Regex.Match(result.Out, @"^\| fedavg \| (\d+\.\d{4})", RegexOptions.Multiline).Groups[1].Value), Number(row.Groups[1].Value));
            gaps[rule] = (Number(row.Groups[5].Value), Number(row.Groups[7].Value));
            traffic[rule] = (Number(row.Groups[9].Value), Number(row.Groups[10].Value));
            Assert.Equal(2, Regex.Matches(result.Out, $@"^{rule} round [12]: ", RegexOptions.Multiline).Count);
        }
        // Two clients trained apart: averaging the factors leaves a gap; the product rule carries ΔW exactly; LoRA-FAIR narrows it.
        Assert.True(gaps["fedavg"].Average > 0, result.Out);
        Assert.Equal(gaps["fedavg"].Average, gaps["fedavg"].Global);
        Assert.Equal(0.0, gaps["product"].Global);
        Assert.True(gaps["lora-fair"].Global < gaps["lora-fair"].Average, result.Out);
        // The factors go both ways in equal amounts; the product rule also sends its dense residual down.
        Assert.True(traffic["fedavg"].Up > 0 && traffic["fedavg"].Down == traffic["fedavg"].Up, result.Out);
        Assert.Equal(traffic["fedavg"], traffic["lora-fair"]);
        Assert.True(traffic["product"].Down > traffic["product"].Up, result.Out);
        Assert.Matches(@"2 clients by first-letter ranges \([a-z](-[a-z])?: \d+ names, [a-z](-[a-z])?: \d+ names\)", result.Out);
    }

    [Fact]
    public void OneClient_EveryRuleIsExact_AndTheRulesAgree()
    {
        var result = CliRun.Invoke("federated", "--checkpoint", TinyNamesModel.File, "--clients", "1", "--rounds", "1",
            "--local-steps", "2", "--batch", "2", "--rank", "2");
        Assert.True(result.ExitCode == 0, result.Error);
        // One client: B̄Ā = B_1 A_1 = ΔW, so no rule leaves a gap (LoRA-FAIR's ΔB = 0) and all three give the same model.
        var after = new List<string>();
        foreach (var rule in new[] { "fedavg", "product", "lora-fair" })
        {
            var row = Regex.Match(result.Out, $@"^\| {rule} \| \d+\.\d{{4}} \| (\d+\.\d{{4}}) \| \d+\.\d{{4}} \| 0\.0000 / 0\.0000 \| 0\.0000 / 0\.0000 \| \d+\.\d{{3}} / \d+\.\d{{3}} \|\s*$", RegexOptions.Multiline);
            Assert.True(row.Success, result.Out);
            after.Add(row.Groups[1].Value);
        }
        Assert.Single(after.Distinct());
    }

    [Fact]
    public void Split_CutsAlphabeticalFirstLetterRangesOfAboutEqualSize()
    {
        string[] names = ["eve", "anna", "bob", "Alice", "dora", "carl"];
        var parts = NamesClientSplit.Split(names, 3);
        // Letters a(2) b(1) c(1) d(1) e(1): the cuts fall at 2 and 4 of 6 names, on letter boundaries.
        Assert.Equal(["a", "b-c", "d-e"], parts.Select(p => p.Range));
        Assert.Equal(["anna", "Alice"], parts[0].Names);
        Assert.Equal(["bob", "carl"], parts[1].Names);
        Assert.Equal(["dora", "eve"], parts[2].Names);
        // Every later client keeps at least one letter even when the first letter alone passes its share.
        Assert.Equal(["a", "b", "c"], NamesClientSplit.Split(["ann", "amy", "abe", "al", "bo", "cy"], 3).Select(p => p.Range));
    }

    [Fact]
    public void MoreClientsThanFirstLetters_IsAOneLineUserError()
    {
        CliAssert.OneLineUserError(CliRun.Invoke("federated", "--checkpoint", TinyNamesModel.File, "--clients", "40", "--rounds", "1"),
            "federated", "--clients 40", "distinct first letters");
    }

    [Fact]
    public void ZeroRounds_IsAOneLineUserError()
    {
        CliAssert.OneLineUserError(CliRun.Invoke("federated", "--checkpoint", TinyNamesModel.File, "--rounds", "0"), "federated", "--rounds");
    }
    [Fact]
    public void FedPeftHarness_DirichletClients_PartialParticipation_AndDpSgd()
    {
        var result = CliRun.Invoke("federated", "--checkpoint", TinyNamesModel.File, "--clients", "4", "--rounds", "2",
            "--local-steps", "1", "--batch", "2", "--rank", "2", "--split", "dirichlet", "--alpha", "0.3", "--client-fraction", "0.5",
            "--dp-clip", "1", "--dp-noise", "0.5");
        Assert.True(result.ExitCode == 0, result.Error);
        Assert.Matches(@"4 clients by Dirichlet split of the first letters, alpha 0\.3 \(#1: \d+ names, #2: \d+ names, #3: \d+ names, #4: \d+ names\)", result.Out);
        Assert.Contains("client fraction 0.5, DP-SGD clip 1 noise multiplier 0.5", result.Out);
        // Two of four clients train in each round, named on the round's line.
        Assert.Equal(6, Regex.Matches(result.Out, @"round [12]: .*; trained: #\d #\d\s*$", RegexOptions.Multiline).Count);

        CliAssert.OneLineUserError(CliRun.Invoke("federated", "--checkpoint", TinyNamesModel.File, "--dp-noise", "1", "--rounds", "1"), "federated", "--dp-noise needs --dp-clip");
        CliAssert.OneLineUserError(CliRun.Invoke("federated", "--checkpoint", TinyNamesModel.File, "--split", "zipf", "--rounds", "1"), "federated", "--split");
        CliAssert.OneLineUserError(CliRun.Invoke("federated", "--checkpoint", TinyNamesModel.File, "--client-fraction", "0", "--rounds", "1"), "federated", "--client-fraction");
    }
}
