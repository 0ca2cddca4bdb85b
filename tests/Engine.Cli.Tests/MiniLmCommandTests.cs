using System.Text.Json;
using Engine.Nn.Checkpoints;
using Xunit;

namespace Engine.Cli.Tests;

/// <summary>engine embed, classify --model minilm and predict, end to end on the packaged MiniLM.</summary>
[Collection(ConsoleCollection.Name)]
public sealed class MiniLmCommandTests
{
    // Ten short messages, half spam, as engine classify and predict read them.
    static string DataFile(bool labelled = true)
    {
        var path = Path.Combine(CliRun.TempFolder(), "messages.jsonl");
        var lines = Enumerable.Range(0, 10).Select(i => JsonSerializer.Serialize(labelled
            ? new Dictionary<string, object> { ["subject"] = i % 2 == 0 ? "WIN CASH NOW" : "meeting notes", ["body"] = i % 2 == 0 ? "click here for free money" : "see you at ten tomorrow", ["label"] = i % 2 == 0 ? 1 : 0 }
            : new Dictionary<string, object> { ["subject"] = "hello", ["body"] = $"message {i}" }));
        File.WriteAllLines(path, lines);
        return path;
    }

    [Fact]
    public void Embed_PrintsTheCosineMatrix_AndWritesUnitRows()
    {
        var output = Path.Combine(CliRun.TempFolder(), "e.safetensors");
        var run = CliRun.Invoke("embed", "--text", "A cat sits on the mat.", "--text", "A kitten rests on a rug.", "--out", output);
        Assert.True(run.ExitCode == 0, run.Error);
        Assert.Contains("2 text(s) -> embeddings [2, 384]", run.Out);
        Assert.Matches(@"\[1\]\s+1\.000\s+0\.6\d\d", run.Out);
        var rows = Safetensors.Load(output)["embeddings"];
        Assert.Equal([2, 384], rows.Shape);
        Assert.Equal(1.0, rows.Select(0, 1).Square().Sum().Item(), 5);
    }

    [Fact]
    public void Embed_CutsALongTextWithANotice_AndRefusesNoText()
    {
        var file = Path.Combine(CliRun.TempFolder(), "texts.txt");
        File.WriteAllLines(file, ["short", string.Join(" ", Enumerable.Repeat("word", 600))]);
        var run = CliRun.Invoke("embed", "--file", file);
        Assert.True(run.ExitCode == 0, run.Error);
        Assert.Contains("notice: text 2 is longer than 256 tokens", run.Error);

        var none = CliRun.Invoke("embed");
        Assert.Equal(2, none.ExitCode);
        Assert.Single(none.Error.Trim().Split('\n'));
    }

    [Fact]
    public void Classify_SavesALoraClassifier_ThatPredictReadsBack()
    {
        var data = DataFile();
        var folder = Path.Combine(CliRun.TempFolder(), "spam-lora");
        var train = CliRun.Invoke("classify", "--model", "minilm", "--adapter", "lora", "--data", data, "--steps", "2", "--length", "16", "--out", folder);
        Assert.True(train.ExitCode == 0, train.Error);
        Assert.Matches(@"lora: [\d,]+ trainable of [\d,]+ parameters", train.Out);
        Assert.True(File.Exists(Path.Combine(folder, "adapter_config.json")));
        Assert.True(File.Exists(Path.Combine(folder, "text_classifier.json")));

        var predictions = Path.Combine(CliRun.TempFolder(), "predictions.jsonl");
        var predict = CliRun.Invoke("predict", "--model", "minilm", "--adapter", folder, "--data", data, "--out", predictions);
        Assert.True(predict.ExitCode == 0, predict.Error);
        Assert.Matches(@"10 labelled messages: accuracy \d+\.\d%", predict.Out);
        var lines = File.ReadAllLines(predictions);
        Assert.Equal(10, lines.Length);
        foreach (var line in lines)
        {
            using var json = JsonDocument.Parse(line);
            double p = json.RootElement.GetProperty("probability").GetDouble();
            Assert.InRange(p, 0, 1);
            Assert.Equal(p > 0.5 ? 1 : 0, json.RootElement.GetProperty("label").GetInt32());
        }
    }

    [Fact]
    public void Predict_OfAHeadOnlyClassifier_OnUnlabelledData_PrintsNoScore()
    {
        var folder = Path.Combine(CliRun.TempFolder(), "spam-head");
        var train = CliRun.Invoke("classify", "--model", "minilm", "--adapter", "head", "--data", DataFile(), "--steps", "2", "--length", "16", "--out", folder);
        Assert.True(train.ExitCode == 0, train.Error);
        Assert.True(File.Exists(Path.Combine(folder, "classifier.safetensors")));
        var predict = CliRun.Invoke("predict", "--adapter", folder, "--data", DataFile(labelled: false));
        Assert.True(predict.ExitCode == 0, predict.Error);
        Assert.Equal(10, predict.Out.Trim().Split('\n').Length);
        Assert.DoesNotContain("accuracy", predict.Out);
    }

    [Fact]
    public void Bad_inputs_give_one_line_and_exit_code_2()
    {
        var notAClassifier = CliRun.Invoke("predict", "--adapter", CliRun.TempFolder(), "--data", DataFile());
        Assert.Equal(2, notAClassifier.ExitCode);
        Assert.Contains("text_classifier.json", notAClassifier.Error);

        var badLabel = Path.Combine(CliRun.TempFolder(), "bad.jsonl");
        File.WriteAllLines(badLabel, ["{\"subject\": \"a\", \"body\": \"b\", \"label\": 5}", "{\"subject\": \"c\", \"body\": \"d\", \"label\": 0}"]);
        var label = CliRun.Invoke("classify", "--model", "minilm", "--data", badLabel, "--steps", "1");
        Assert.Equal(2, label.ExitCode);
        Assert.Contains("labels must be 0 (ham) or 1 (spam)", label.Error);

        var prompt = CliRun.Invoke("classify", "--model", "minilm", "--adapter", "prompt", "--steps", "1");
        Assert.Equal(2, prompt.ExitCode);
        var model = CliRun.Invoke("classify", "--model", "gpt5");
        Assert.Equal(2, model.ExitCode);
        foreach (var run in new[] { notAClassifier, label, prompt, model }) Assert.Single(run.Error.Trim().Split('\n'));
    }
    [Fact]
    public void Contrastive_TrainsLoraWithSupCon_AndReportsNeighbourAccuracyBeforeAndAfter()
    {
        var run = CliRun.Invoke("contrastive", "--data", DataFile(), "--steps", "2", "--batch", "4", "--length", "16", "--neighbours", "3");
        Assert.True(run.ExitCode == 0, run.Error);
        Assert.Matches(@"before: 3-NN accuracy \d+\.\d%, held-out SupCon loss \d+\.\d{4}", run.Out);
        Assert.Matches(@"after 2 steps \(\d+ s\): 3-NN accuracy", run.Out);

        var prompt = CliRun.Invoke("contrastive", "--data", DataFile(), "--adapter", "prompt", "--steps", "1");
        var tooMany = CliRun.Invoke("contrastive", "--data", DataFile(), "--neighbours", "9", "--steps", "1");
        foreach (var bad in new[] { prompt, tooMany })
        {
            Assert.Equal(2, bad.ExitCode);
            Assert.Single(bad.Error.Trim().Split('\n'));
        }
        Assert.Contains("--neighbours 9 is more than the 8 training messages", tooMany.Error);
    }

    [Fact]
    public void NearestNeighbours_VotesByMajority_BreakingTiesByTheNearest()
    {
        // References on the unit circle at angles 0, 10, 20, 180 degrees; labels 0, 1, 1, 0.
        double[] angles = [0, 10, 20, 180];
        var references = Tensor.FromArray(angles.SelectMany(a => new[] { Math.Cos(a * Math.PI / 180), Math.Sin(a * Math.PI / 180) }).ToArray(), [4, 2]);
        int[] labels = [0, 1, 1, 0];
        var query = Tensor.FromArray(new double[] { Math.Cos(2 * Math.PI / 180), Math.Sin(2 * Math.PI / 180) }, [1, 2]);
        Assert.Equal([0], NearestNeighbours.Vote(query, references, labels, 1));
        Assert.Equal([0], NearestNeighbours.Vote(query, references, labels, 2));   // 1-1 tie: the nearest (angle 0) decides
        Assert.Equal([1], NearestNeighbours.Vote(query, references, labels, 3));   // two of three are 1
        Assert.Throws<ArgumentException>(() => NearestNeighbours.Vote(query, references, labels, 5));
    }
}
