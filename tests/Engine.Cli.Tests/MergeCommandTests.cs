using System.Globalization;
using System.Text.RegularExpressions;
using Engine.Nn.Checkpoints;
using Engine.Nn.Merging;
using Xunit;

namespace Engine.Cli.Tests;

/// <summary><c>engine merge</c>: the state-dict merges of issue 20 on tiny names checkpoints.</summary>
[Collection(ConsoleCollection.Name)]
public class MergeCommandTests
{
    // Two full fine-tunes of the tiny model (one step each, different seeds), as folders of `engine finetune --adapter full`.
    static readonly Lazy<string[]> FineTunes = new(() => new[] { 1, 2 }.Select(seed =>
    {
        var folder = Path.Combine(CliRun.TempFolder(), $"full-{seed}");
        var r = CliRun.Invoke("finetune", "--checkpoint", TinyNamesModel.File, "--adapter", "full", "--steps", "1", "--batch", "2", "--seed", seed.ToString(), "--out", folder);
        Assert.True(r.ExitCode == 0, r.Error);
        return folder;
    }).ToArray());

    static double[] Losses(string table, string model)
    {
        var row = Regex.Match(table, $@"^\| {Regex.Escape(model)} \| [^|]* \| (.+) \|\s*$", RegexOptions.Multiline);
        Assert.True(row.Success, $"no row '{model}' in:\n{table}");
        return row.Groups[1].Value.Split(" | ").Select(v => double.Parse(v, CultureInfo.InvariantCulture)).ToArray();
    }

    [Fact]
    public void TaskArithmeticOfOneModelWithWeightOne_WritesThatModel()
    {
        var model = FineTunes.Value[0];
        var output = Path.Combine(CliRun.TempFolder(), "merged.safetensors");
        var result = CliRun.Invoke("merge", "--base", TinyNamesModel.File, "--models", model, "--method", "task_arithmetic", "--weights", "1", "--eval", "female", "--out", output);
        Assert.True(result.ExitCode == 0, result.Error);
        var expected = Safetensors.Load(Path.Combine(model, FinetuneCommand.FullModelFileName)).Where(kv => kv.Key.StartsWith("model.")).ToDictionary();
        var merged = Safetensors.Load(output);
        Assert.Equal(expected.Keys.Order(), merged.Keys.Order());
        foreach (var (name, t) in expected) Assert.Equal(t.ToArray<float>(), merged[name].ToArray<float>());
        Assert.Equal(Losses(result.Out, "model: full-1"), Losses(result.Out, "merged: task_arithmetic"));
        // The written file is a names checkpoint: it merges again (with itself as base, the task vector is 0).
        var again = CliRun.Invoke("merge", "--base", output, "--models", output, "--method", "ties", "--eval", "female");
        Assert.True(again.ExitCode == 0, again.Error);
        Assert.Equal(Losses(again.Out, "base: merged.safetensors"), Losses(again.Out, "merged: ties"));
    }

    [Fact]
    public void MethodAll_PrintsOneRowPerModelAndRegisteredMethod_WithTheMeanOfTheEvalSets()
    {
        var result = CliRun.Invoke(["merge", "--base", TinyNamesModel.File, "--models", .. FineTunes.Value, "--method", "all", "--eval", "female", "male"]);
        Assert.True(result.ExitCode == 0, result.Error);
        Assert.Contains("| model | density | female loss | male loss | mean |", result.Out);
        var rows = new[] { "base: tiny-1.safetensors", "model: full-1", "model: full-2" }.Concat(StateDictMerges.All.Select(e => $"merged: {e.Name}"));
        foreach (var row in rows)
        {
            var losses = Losses(result.Out, row);
            Assert.Equal(3, losses.Length);
            Assert.All(losses, l => Assert.True(l > 0 && double.IsFinite(l)));
            // Printed to 4 decimals: the mean of the rounded losses is within 1e-4 of the rounded mean.
            Assert.InRange(losses[2] - (losses[0] + losses[1]) / 2, -1.01e-4, 1.01e-4);
        }
        Assert.Matches(@"\| merged: ties \| 0\.2 \|", result.Out);
    }

    [Fact]
    public void CheckpointsOfAnotherModel_AreAOneLineUserError()
    {
        CliAssert.OneLineUserError(CliRun.Invoke("merge", "--base", TinyNamesModel.File, "--models", TinyNamesModel.TwoLayerFile, "--method", "ties"),
            "merge", "--models", TinyNamesModel.TwoLayerFile, "gpt_config");
    }

    [Fact]
    public void BadOptions_AreOneLineUserErrors()
    {
        var model = FineTunes.Value[0];
        CliAssert.OneLineUserError(CliRun.Invoke("merge", "--base", TinyNamesModel.File, "--models", model, "--method", "all", "--out", Path.Combine(CliRun.TempFolder(), "m.safetensors")),
            "merge", "--out", "all");
        CliAssert.OneLineUserError(CliRun.Invoke("merge", "--base", TinyNamesModel.File, "--models", model, "--weights", "0.5", "0.5"), "merge", "--weights", "2 value(s)", "1 --models");
        CliAssert.OneLineUserError(CliRun.Invoke("merge", "--base", TinyNamesModel.File, "--models", model, "--method", "tie"), "merge", "'tie'", "ties, dare_linear");
        CliAssert.OneLineUserError(CliRun.Invoke("merge", "--base", TinyNamesModel.File, "--models", model, "--majority-sign", "mass"), "merge", "--majority-sign", "frequency");
        CliAssert.OneLineUserError(CliRun.Invoke("merge", "--base", TinyNamesModel.File, "--models", model, "--density", "1.5"), "merge", "--density");
        CliAssert.OneLineUserError(CliRun.Invoke("merge", "--base", CliRun.TempFolder(), "--models", model), "merge", "--base", FinetuneCommand.FullModelFileName);
        CliAssert.OneLineUserError(CliRun.Invoke("merge", "--base", TinyNamesModel.File), "merge", "--models");
    }
}
