using Engine.Nn;
using Engine.Nn.Checkpoints;
using Xunit;

namespace Engine.Cli.Tests;

[Collection(ConsoleCollection.Name)]
public sealed class ModelCommandTests
{
    static long[] GoldenRow0Ids()
    {
        var golden = Safetensors.Load(Path.Combine(CliRun.Golden, "golden.safetensors"));
        return golden["input_ids"].To(DType.Int64).ToArray<long>().Take(16).ToArray();
    }

    [Fact]
    public void Logits_OfGoldenFolder_EqualPyTorchLogitsOfRow0()
    {
        var golden = Safetensors.Load(Path.Combine(CliRun.Golden, "golden.safetensors"));
        Assert.Equal([2, 16], golden["input_ids"].Shape);
        var ids = GoldenRow0Ids();
        var expected = golden["logits"].ToArray<float>().Take(16 * 64).ToArray();
        var outPath = Path.Combine(CliRun.TempFolder(), "logits.safetensors");

        var result = CliRun.Invoke("logits", "--model", CliRun.Golden, "--ids", string.Join(",", ids), "--out", outPath);

        Assert.Equal(0, result.ExitCode);
        Assert.Contains("[1, 16, 64]", result.Out);
        var written = Safetensors.Load(outPath);
        Assert.Equal([1, 16, 64], written["logits"].Shape);
        Assert.Equal(ids, written["input_ids"].To(DType.Int64).ToArray<long>());
        var actual = written["logits"].ToArray<float>();
        for (int i = 0; i < expected.Length; i++) Assert.True(Math.Abs(actual[i] - expected[i]) <= 1e-4, $"logit {i}: {actual[i]} vs {expected[i]}");
    }

    [Fact]
    public void GenerateGreedy_WithIds_EqualsStepByStepArgmaxWithoutCache()
    {
        var prompt = GoldenRow0Ids().Take(5).ToList();
        const int newTokens = 12;
        var model = Gpt2Checkpoint.Load(CliRun.Golden);
        var expected = new List<long>(prompt);
        using (Autograd.Autograd.NoGrad())
            for (int step = 0; step < newTokens; step++)
            {
                var logits = model.Forward(Tensor.FromArray(expected.ToArray(), [1, expected.Count])).ToArray<float>();
                var last = logits.AsSpan((expected.Count - 1) * 64, 64).ToArray();
                expected.Add(Array.IndexOf(last, last.Max()));
            }

        var result = CliRun.Invoke("generate", "--model", CliRun.Golden, "--ids", string.Join(",", prompt), "--greedy", "--max-new-tokens", newTokens.ToString());

        Assert.Equal(0, result.ExitCode);
        Assert.Equal(string.Join(",", expected), result.Out.Trim());
    }

    [Fact]
    public void Inspect_OfGoldenFolder_ListsEveryTensorAndTheTotal()
    {
        var tensors = Safetensors.Load(Path.Combine(CliRun.Golden, "model.safetensors"));
        var parameters = Gpt2Checkpoint.Load(CliRun.Golden).ParameterCount();

        var result = CliRun.Invoke("inspect", CliRun.Golden);

        Assert.Equal(0, result.ExitCode);
        foreach (var (name, t) in tensors)
            Assert.Matches($@"(?m)^{System.Text.RegularExpressions.Regex.Escape(name)}\s+\w+\s+\[{string.Join(", ", t.Shape)}\]\s+{t.Numel:N0}\s*$", result.Out);
        Assert.Contains($"total: {tensors.Values.Sum(t => t.Numel):N0} elements", result.Out);
        Assert.Contains($"model parameters: {parameters:N0}", result.Out);
        Assert.Contains("vocab 64, context 32, width 32, 2 layers, 4 heads", result.Out);
    }

    [Fact]
    public void Inspect_OfPlainSafetensorsFile_ListsTensorsAndMetadata()
    {
        var path = Path.Combine(CliRun.TempFolder(), "plain.safetensors");
        Safetensors.Save(path, new Dictionary<string, Tensor> { ["a"] = Tensor.Zeros(3, 4), ["b"] = Tensor.FromArray(new long[] { 1, 2 }, [2]) },
            new Dictionary<string, string> { ["note"] = "hello" });

        var result = CliRun.Invoke("inspect", path);

        Assert.Equal(0, result.ExitCode);
        Assert.Matches(@"(?m)^a\s+F32\s+\[3, 4\]\s+12\s*$", result.Out);
        Assert.Matches(@"(?m)^b\s+I64\s+\[2\]\s+2\s*$", result.Out);
        Assert.Contains("total: 14 elements, 64 bytes", result.Out);
        Assert.Contains("note: \"hello\"", result.Out);
    }
}
