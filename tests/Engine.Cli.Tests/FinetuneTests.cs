using Engine.Nn;
using Engine.Nn.Checkpoints;
using Engine.Peft;
using Xunit;

namespace Engine.Cli.Tests;

/// <summary><c>engine finetune</c>: the downstream job with every method on a tiny names model.</summary>
[Collection(ConsoleCollection.Name)]
public sealed class FinetuneTests
{
    // Two layers: methods that share across layers (MoS draws each layer's shards from one pool per module type) need them.
    static readonly Lazy<string> Checkpoint = new(() =>
    {
        var path = Path.Combine(CliRun.TempFolder(), "names.safetensors");
        var train = CliRun.Invoke("train", "--steps", "2", "--eval-every", "2", "--samples", "0", "--out", path,
            "--width", "16", "--layers", "2", "--heads", "2", "--context", "12", "--batch", "4");
        Assert.True(train.ExitCode == 0, train.Error);
        return path;
    });

    /// <summary>Every registered method and variant, and full fine-tuning: a new method gets its case by registering.</summary>
    public static TheoryData<string> Methods => new(PeftRegistry.CliNames().Append("full"));

    [Theory]
    [MemberData(nameof(Methods))]
    public void Finetune_ReportsParametersLossesSpeedAndMemoryAndSavesTheAdapter(string method)
    {
        var folder = Path.Combine(CliRun.TempFolder(), "adapter");
        var result = CliRun.Invoke("finetune", "--checkpoint", Checkpoint.Value, "--adapter", method, "--steps", "3", "--batch", "4", "--rank", "2", "--out", folder);
        Assert.True(result.ExitCode == 0, result.Error);
        Assert.Matches(@"trainable params: [\d,]+ \|\| all params: [\d,]+ \|\| trainable%: \d+\.\d{4}", result.Out);
        Assert.Matches(@"validation loss before: \d+\.\d{4}", result.Out);
        Assert.Matches(@"validation loss after 3 steps: \d+\.\d{4}", result.Out);
        Assert.Matches(@"step time: [\d.]+ ms \(\d+ tokens/s\); peak memory \(working set\): \d+ MiB", result.Out);
        if (method == "full")
        {
            Assert.True(File.Exists(Path.Combine(folder, "model.safetensors")));
            return;
        }
        // The saved adapter is a PEFT folder that `engine logits --adapter` applies.
        Assert.True(File.Exists(Path.Combine(folder, AdapterFiles.ConfigFileName)));
        var logits = CliRun.Invoke("logits", "--model", Checkpoint.Value, "--ids", "1,2,3", "--adapter", folder, "--out", Path.Combine(folder, "l.safetensors"));
        Assert.True(logits.ExitCode == 0, logits.Error);
    }

    [Fact]
    public void TunedLearningRate_IsTheVariantsOwnWhereItHasOne_ElseTheMethods()
    {
        // CorDA registers 1e-3 beside LoRA's 1e-2 (its factors diverge at LoRA's rate on the names job).
        Assert.Equal(1e-3, FinetuneCommand.TunedLearningRate("corda"));
        Assert.Equal(1e-2, FinetuneCommand.TunedLearningRate("lora"));
        Assert.Equal(1e-2, FinetuneCommand.TunedLearningRate("pissa"));
        Assert.Equal(3e-3, FinetuneCommand.TunedLearningRate("full"));
        // Every entry names a registered variant with a positive rate (a typo fails when the registry is built).
        foreach (var info in PeftRegistry.Methods)
            foreach (var (variant, _) in info.Variants) Assert.True(info.ZooLearningRate(variant) > 0);
    }

    [Fact]
    public void Finetune_WithAnUnknownMethod_IsAUserError()
    {
        var result = CliRun.Invoke("finetune", "--checkpoint", Checkpoint.Value, "--adapter", "magic");
        Assert.Equal(2, result.ExitCode);
        Assert.Contains("no adapter method named 'magic'; methods: ", result.Error);
        Assert.Contains("lora", result.Error);
    }

    [Fact]
    public void Finetune_SetsConfigFieldsByPeftName_AndRejectsUnknownFields()
    {
        var folder = Path.Combine(CliRun.TempFolder(), "adapter");
        var result = CliRun.Invoke("finetune", "--checkpoint", Checkpoint.Value, "--adapter", "lora", "--steps", "1", "--batch", "2",
            "--set", "lora_dropout=0.25", "--set", "r=3", "--out", folder);
        Assert.True(result.ExitCode == 0, result.Error);
        var config = (Engine.Peft.LowRank.LoraConfig)AdapterFiles.ReadConfig(folder);
        Assert.Equal(0.25, config.LoraDropout);
        Assert.Equal(3, config.R);

        var bad = CliRun.Invoke("finetune", "--checkpoint", Checkpoint.Value, "--adapter", "lora", "--steps", "1", "--set", "lora_dropuot=0.1");
        Assert.Equal(2, bad.ExitCode);
        Assert.Contains("no field 'lora_dropuot'", bad.Error);
        var badValue = CliRun.Invoke("finetune", "--checkpoint", Checkpoint.Value, "--adapter", "lora", "--steps", "1", "--set", "r=many");
        Assert.Equal(2, badValue.ExitCode);
        Assert.Contains("'r'", badValue.Error);
    }

    [Fact]
    public void Zoo_TabulatesTheChosenMethodsIntoTheReadmeBetweenItsMarkers()
    {
        var readme = Path.Combine(CliRun.TempFolder(), "README.md");
        File.WriteAllText(readme, "before\n<!-- zoo:begin -->\nold table\n<!-- zoo:end -->\nafter\n");
        var result = CliRun.Invoke("zoo", "--checkpoint", Checkpoint.Value, "--steps", "2", "--rank", "2", "--methods", "lora", "ia3", "full",
            "--spam-steps", "0", "--isolate", "false", "--readme", readme);
        Assert.True(result.ExitCode == 0, result.Error);
        var text = File.ReadAllText(readme);
        Assert.StartsWith("before\n<!-- zoo:begin -->\n", text);
        Assert.EndsWith("<!-- zoo:end -->\nafter\n", text);
        Assert.DoesNotContain("old table", text);
        Assert.Matches(@"\| lora \| LORA \| yes \| 0.01 \| [\d,]+ \|", text);
        Assert.Matches(@"\| ia3 \| IA3 \| yes \|", text);
        Assert.Matches(@"\| full \| - \| yes \| 0.003 \|", text);
        Assert.DoesNotContain("MiniLM spam", text);
    }

    [Fact]
    public void ZooUpdate_ReplacesOnlyTheRowsOfTheMethodsRun_AndKeepsTheOthersInTheZoosOrder()
    {
        var readme = Path.Combine(CliRun.TempFolder(), "README.md");
        File.WriteAllText(readme, "<!-- zoo:begin -->\n<!-- zoo:end -->\n");
        var first = CliRun.Invoke("zoo", "--checkpoint", Checkpoint.Value, "--steps", "2", "--rank", "2", "--methods", "lora", "ia3",
            "--spam-steps", "0", "--isolate", "false", "--readme", readme);
        Assert.True(first.ExitCode == 0, first.Error);
        var rowsBefore = File.ReadAllLines(readme).Where(l => l.StartsWith("| lora ") || l.StartsWith("| ia3 ")).ToList();
        Assert.Equal(2, rowsBefore.Count);
        // A row of a method no longer registered is dropped.
        File.WriteAllText(readme, File.ReadAllText(readme).Replace("<!-- zoo:end -->", "| gone | GONE | yes | 0.1 | 1 | 2 | 50.00 | 2.0000 | 1.0000 | 1.0 | 1 | 1 |\n<!-- zoo:end -->"));

        var second = CliRun.Invoke("zoo", "--checkpoint", Checkpoint.Value, "--steps", "3", "--rank", "2", "--methods", "vera",
            "--spam-steps", "0", "--isolate", "false", "--readme", readme, "--update");
        Assert.True(second.ExitCode == 0, second.Error);
        var lines = File.ReadAllLines(readme);
        var rows = lines.Where(l => l.StartsWith("| ") && !l.StartsWith("| method")).ToList();
        Assert.Equal(3, rows.Count);
        Assert.Equal(rowsBefore[0], rows[0]);                 // lora kept as it was
        Assert.StartsWith("| vera | VERA |", rows[1]);        // the zoo lists vera between lora and ia3
        Assert.Equal(rowsBefore[1], rows[2]);
        Assert.Single(lines, l => l.StartsWith("| method"));
        Assert.Contains("3 steps of batch 32", File.ReadAllText(readme)); // the newest run's heading

        var lonely = CliRun.Invoke("zoo", "--checkpoint", Checkpoint.Value, "--methods", "vera", "--update");
        Assert.Equal(2, lonely.ExitCode);
        Assert.Contains("--update needs --readme", lonely.Error);
    }

    [Fact]
    public void Zoo_AddsTheMiniLmSpamColumn_WithNoValueForInputSideMethods()
    {
        var result = CliRun.Invoke("zoo", "--checkpoint", Checkpoint.Value, "--steps", "2", "--rank", "2", "--methods", "prompt", "full",
            "--spam-steps", "1", "--isolate", "false");
        Assert.True(result.ExitCode == 0, result.Error);
        Assert.Contains("MiniLM spam acc / F1 (s) |", result.Out);
        Assert.Matches(@"\| prompt \| PROMPT_TUNING \|.*\| n/a \|", result.Out);
        Assert.Matches(@"\| full \| - \|.*\| \d+\.\d% / \d\.\d{3} \(\d+\) \|", result.Out);
    }
}
