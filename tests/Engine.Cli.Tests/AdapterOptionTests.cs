using Engine.Nn;
using Engine.Nn.Checkpoints;
using Engine.Peft;
using Xunit;

namespace Engine.Cli.Tests;

/// <summary><c>--adapter</c> on <c>engine logits</c> and <c>engine generate</c>.</summary>
[Collection(ConsoleCollection.Name)]
public sealed class AdapterOptionTests
{
    static string Adapter(string name) => Path.Combine(AppContext.BaseDirectory, "golden", name);

    static float[] RunLogits(long[] ids, params string[] adapterArgs)
    {
        var outPath = Path.Combine(CliRun.TempFolder(), "logits.safetensors");
        var result = CliRun.Invoke(["logits", "--model", CliRun.Golden, "--ids", string.Join(",", ids), "--out", outPath, .. adapterArgs]);
        Assert.True(result.ExitCode == 0, result.Error);
        return Safetensors.Load(outPath)["logits"].ToArray<float>();
    }

    [Fact]
    public void Logits_WithAPeftLoraAdapter_EqualPyTorchLogitsOfTheAdaptedModel()
    {
        var golden = Safetensors.Load(Path.Combine(Adapter("gpt2-tiny-lora"), "golden.safetensors"));
        var ids = golden["input_ids"].ToArray<long>().Take(16).ToArray();
        var expected = golden["logits"].ToArray<float>().Take(16 * 64).ToArray();
        var actual = RunLogits(ids, "--adapter", Adapter("gpt2-tiny-lora"));
        for (int i = 0; i < expected.Length; i++) Assert.True(Math.Abs(actual[i] - expected[i]) <= 1e-4, $"logit {i}: {actual[i]} vs {expected[i]}");
    }

    [Fact]
    public void Logits_WithTwoAdapters_ApplyBothAtOnce()
    {
        long[] ids = [3, 14, 15, 9, 26];
        var model = Gpt2Checkpoint.Load(CliRun.Golden);
        var peft = new PeftModel<Gpt>(model);
        peft.LoadAdapter(Adapter("gpt2-tiny-lora"), "a");
        peft.LoadAdapter(Adapter("gpt2-tiny-dora"), "b");
        peft.SetAdapter("a", "b");
        float[] expected;
        using (Autograd.Autograd.NoGrad()) expected = peft.Forward(Tensor.FromArray(ids, [1, 5])).ToArray<float>();
        var onlyLora = RunLogits(ids, "--adapter", Adapter("gpt2-tiny-lora"));
        var both = RunLogits(ids, "--adapter", Adapter("gpt2-tiny-lora"), "--adapter", Adapter("gpt2-tiny-dora"));
        Assert.Equal(expected, both);
        Assert.NotEqual(onlyLora, both);
    }

    [Fact]
    public void GenerateGreedy_WithAnAdapter_EqualsStepByStepArgmaxOfTheAdaptedModel()
    {
        long[] prompt = [3, 14, 15];
        var peft = new PeftModel<Gpt>(Gpt2Checkpoint.Load(CliRun.Golden));
        peft.LoadAdapter(Adapter("gpt2-tiny-dora"), "default");
        var expected = new List<long>(prompt);
        using (Autograd.Autograd.NoGrad())
            for (int step = 0; step < 6; step++)
            {
                var logits = peft.Forward(Tensor.FromArray(expected.ToArray(), [1, expected.Count])).ToArray<float>();
                var last = logits.AsSpan((expected.Count - 1) * 64, 64).ToArray();
                expected.Add(Array.IndexOf(last, last.Max()));
            }
        var result = CliRun.Invoke("generate", "--model", CliRun.Golden, "--ids", "3,14,15", "--greedy", "--max-new-tokens", "6", "--adapter", Adapter("gpt2-tiny-dora"));
        Assert.True(result.ExitCode == 0, result.Error);
        Assert.Equal(string.Join(",", expected), result.Out.Trim());
    }

    [Fact]
    public void AdaptersOfTwoMethodsOnOneLayer_AreAUserError()
    {
        var result = CliRun.Invoke("logits", "--model", CliRun.Golden, "--ids", "1,2", "--adapter", Adapter("gpt2-tiny-lora"), "--adapter", Adapter("gpt2-tiny-ia3"));
        Assert.Equal(2, result.ExitCode);
        Assert.Contains("mixing methods", result.Error);
    }

    [Fact]
    public void MissingAdapterFolder_IsAUserError()
    {
        var missing = Path.Combine(CliRun.TempFolder(), "nope");
        var result = CliRun.Invoke("logits", "--model", CliRun.Golden, "--ids", "1,2", "--adapter", missing);
        Assert.Equal(2, result.ExitCode);
        Assert.Contains("engine logits:", result.Error);
        Assert.Contains(missing, result.Error);
    }

    [Theory]
    [InlineData("r", "\"r\": \"two\"", "'r'")]
    [InlineData("target_modules", "\"target_modules\": \"(\"", "target_modules")]
    [InlineData("lora_alpha", "\"lora_alpha\": 1e400", "lora_alpha")]
    [InlineData("r", "\"r\": 1000000", "lora_A")]
    [InlineData("bias", "\"bias\": \"some\"", "bias")]
    [InlineData("r", "\"r\": 2, \"r\": 3", "'r'")]
    public void HostileAdapterConfig_IsOneLineNamingTheFieldWithExitCode2(string key, string field, string mention)
    {
        var folder = CliRun.TempFolder();
        foreach (var file in Directory.GetFiles(Adapter("gpt2-tiny-lora"))) File.Copy(file, Path.Combine(folder, Path.GetFileName(file)));
        var config = Path.Combine(folder, "adapter_config.json");
        var text = File.ReadAllText(config).Replace($"\"{key}\":", $"\"ignored_{key}\":", StringComparison.Ordinal);
        File.WriteAllText(config, "{" + field + "," + text.TrimStart()[1..]);
        var result = CliRun.Invoke("logits", "--model", CliRun.Golden, "--ids", "1,2", "--adapter", folder);
        Assert.Equal(2, result.ExitCode);
        Assert.StartsWith("engine logits: ", result.Error);
        Assert.Single(result.Error.Trim().Split('\n'));
        Assert.Contains(mention, result.Error);
    }
}
