using Engine.Nn.Checkpoints;
using Xunit;

namespace Engine.Cli.Tests;

/// <summary><c>engine diff</c>: the update-sparsity report on two files, and its errors as one line with exit code 2.</summary>
[Collection(ConsoleCollection.Name)]
public class DiffCommandTests
{
    [Fact]
    public void ReportsTheChangedFractionAndRankPerTensor()
    {
        var folder = CliRun.TempFolder();
        string a = Path.Combine(folder, "a.safetensors"), b = Path.Combine(folder, "b.safetensors");
        var w = Tensor.Zeros(4, 4);
        var changed = w.ToArray<float>();
        changed[0] = 1; changed[5] = 1; // two of 16 entries, a rank-2 update
        Safetensors.Save(a, new Dictionary<string, Tensor> { ["w"] = w, ["bias"] = Tensor.Zeros(4) });
        Safetensors.Save(b, new Dictionary<string, Tensor> { ["w"] = Tensor.FromArray(changed, [4, 4]), ["bias"] = Tensor.Zeros(4) });
        var result = CliRun.Invoke("diff", a, b);
        Assert.True(result.ExitCode == 0, result.Error);
        Assert.Contains("| w | [4,4] | 12.50% | 2 / 4 |", result.Out);
        Assert.Contains("| bias | [4] | 0.00% | - |", result.Out);
        Assert.Contains("changed: 2 of 20 entries (10.00%)", result.Out);
    }

    [Fact]
    public void FilesWithDifferentTensors_AreAOneLineUserError()
    {
        var folder = CliRun.TempFolder();
        string a = Path.Combine(folder, "a.safetensors"), b = Path.Combine(folder, "b.safetensors");
        Safetensors.Save(a, new Dictionary<string, Tensor> { ["w"] = Tensor.Zeros(2) });
        Safetensors.Save(b, new Dictionary<string, Tensor> { ["v"] = Tensor.Zeros(2) });
        CliAssert.OneLineUserError(CliRun.Invoke("diff", a, b), "diff", "only in the first: [w]", "only in the second: [v]");
        CliAssert.OneLineUserError(CliRun.Invoke("diff", a, Path.Combine(folder, "missing.safetensors")), "diff", "missing.safetensors");
    }
}
