using Xunit;

namespace Engine.Cli.Tests.Plots;

/// <summary><c>--plot</c> on the training commands and the zoo: the pictures land next to the output, and only when asked.</summary>
[Collection(ConsoleCollection.Name)]
public sealed class PlotOptionTests
{
    static readonly string[] TinyModel = ["--width", "16", "--layers", "1", "--heads", "2", "--context", "12", "--batch", "4", "--samples", "0"];

    static readonly Lazy<string> Checkpoint = new(() =>
    {
        var path = Path.Combine(CliRun.TempFolder(), "names.safetensors");
        var train = CliRun.Invoke(["train", "--steps", "2", "--eval-every", "2", "--out", path, .. TinyModel]);
        Assert.True(train.ExitCode == 0, train.Error);
        return path;
    });

    [Fact]
    public void Train_WithPlot_WritesTheLossCurveNextToTheCheckpoint()
    {
        var folder = CliRun.TempFolder();
        var result = CliRun.Invoke(["train", "--steps", "4", "--eval-every", "2", "--out", Path.Combine(folder, "names.safetensors"), "--plot", .. TinyModel]);
        Assert.True(result.ExitCode == 0, result.Error);

        var path = Path.Combine(folder, "names.loss.svg");
        Assert.Contains($"plot: {path}", result.Out);
        var svg = new SvgReader(path);
        Assert.Equal(4, svg.LongestLine("stroke:rgb(31,119,180);stroke-width:1.2").Count);
        // Validation after steps 2 and 4, plus the legend's sample marker.
        Assert.Equal(2 + 1, svg.Circles().Count);
    }

    [Fact]
    public void Train_WithAPlotPathThatIsAFolder_FailsInOneLineBeforeTraining()
    {
        var folder = CliRun.TempFolder();
        Directory.CreateDirectory(Path.Combine(folder, "names.loss.svg"));
        var result = CliRun.Invoke(["train", "--steps", "2", "--out", Path.Combine(folder, "names.safetensors"), "--plot", .. TinyModel]);
        Assert.Equal(2, result.ExitCode);
        var line = Assert.Single(result.Error.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("--plot", line);
        Assert.Contains("names.loss.svg", line);
        // Refused before any work: no step ran, no checkpoint was written.
        Assert.DoesNotContain("step", result.Out);
        Assert.False(File.Exists(Path.Combine(folder, "names.safetensors")));
    }

    [Fact]
    public void Train_WithoutPlot_WritesNoPicture()
    {
        var folder = CliRun.TempFolder();
        var result = CliRun.Invoke(["train", "--steps", "2", "--out", Path.Combine(folder, "names.safetensors"), .. TinyModel]);
        Assert.True(result.ExitCode == 0, result.Error);
        Assert.Empty(Directory.GetFiles(folder, "*.svg"));
        Assert.DoesNotContain("plot:", result.Out);
    }

    [Fact]
    public void Finetune_AdaLoraWithPlot_WritesTheLossCurveAndTheRankMapInTheAdapterFolder()
    {
        var folder = Path.Combine(CliRun.TempFolder(), "adapter");
        var result = CliRun.Invoke("finetune", "--checkpoint", Checkpoint.Value, "--adapter", "adalora", "--steps", "3", "--batch", "4", "--rank", "2", "--out", folder, "--plot");
        Assert.True(result.ExitCode == 0, result.Error);

        var loss = new SvgReader(Path.Combine(folder, "loss.svg"));
        Assert.Equal(3, loss.LongestLine("stroke:rgb(31,119,180);stroke-width:1.2").Count);
        // Validation before and after training, plus the legend's sample marker.
        Assert.Equal(2 + 1, loss.Circles().Count);
        // One layer x the preset's four projections, each with a rank between 0 and init_r (1.5 x 2).
        var ranks = new SvgReader(Path.Combine(folder, "ranks.svg")).CellLabels();
        Assert.Equal(4, ranks.Count);
        Assert.All(ranks, r => Assert.InRange(int.Parse(r), 0, 3));
    }

    [Fact]
    public void Finetune_LoraWithPlot_DrawsNoRankMap()
    {
        var folder = Path.Combine(CliRun.TempFolder(), "adapter");
        var result = CliRun.Invoke("finetune", "--checkpoint", Checkpoint.Value, "--adapter", "lora", "--steps", "2", "--batch", "4", "--rank", "2", "--out", folder, "--plot");
        Assert.True(result.ExitCode == 0, result.Error);
        Assert.True(File.Exists(Path.Combine(folder, "loss.svg")));
        Assert.False(File.Exists(Path.Combine(folder, "ranks.svg")));
    }

    [Fact]
    public void Zoo_WithPlot_WritesTheChartBesideTheReadme()
    {
        var folder = CliRun.TempFolder();
        var readme = Path.Combine(folder, "README.md");
        File.WriteAllText(readme, "# zoo\n<!-- zoo:begin -->\n<!-- zoo:end -->\n");
        var result = CliRun.Invoke("zoo", "--checkpoint", Checkpoint.Value, "--methods", "lora", "ia3", "full", "--steps", "2", "--rank", "2",
            "--spam-steps", "0", "--isolate", "false", "--readme", readme, "--plot");
        Assert.True(result.ExitCode == 0, result.Error);

        var svg = new SvgReader(Path.Combine(folder, "zoo.svg"));
        Assert.Equal(3, svg.Circles().Count);
        foreach (var method in new[] { "lora", "ia3", "full" }) Assert.Single(svg.Texts(), t => t == method);
        // The pretraining the zoo runs in-process is not drawn into the zoo's pictures.
        Assert.Empty(Directory.GetFiles(folder, "*.loss.svg"));
    }
}
