using System.Globalization;
using System.Text.RegularExpressions;
using Engine.Nn;
using Xunit;

namespace Engine.Cli.Tests;

/// <summary><c>engine inspect --mnn</c>: the Matrix Nuclear-Norm of a names model's last hidden states (issue 20).</summary>
[Collection(ConsoleCollection.Name)]
public class InspectMnnTests
{
    // MNN/T by loops: [boundary, characters] through the model, columns centred, rows unit, top-min(T, H) column norms / T.
    static double Naive(Gpt gpt, CharTokenizer tokenizer, string line)
    {
        long[] ids = [CharTokenizer.Boundary, .. tokenizer.Encode(line).Select(i => (long)i)];
        var h = gpt.LastHiddenState(Tensor.FromArray(ids, [1, ids.Length])).ToDoubleArray();
        int t = ids.Length, d = h.Length / t;
        var r = new double[t, d];
        for (int j = 0; j < d; j++)
        {
            double mean = Enumerable.Range(0, t).Average(i => h[i * d + j]);
            for (int i = 0; i < t; i++) r[i, j] = h[i * d + j] - mean;
        }
        for (int i = 0; i < t; i++)
        {
            double norm = Math.Sqrt(Enumerable.Range(0, d).Sum(j => r[i, j] * r[i, j]));
            for (int j = 0; j < d; j++) r[i, j] /= norm;
        }
        var columns = Enumerable.Range(0, d).Select(j => Math.Sqrt(Enumerable.Range(0, t).Sum(i => r[i, j] * r[i, j])));
        return columns.OrderDescending().Take(Math.Min(t, d)).Sum() / t;
    }

    [Fact]
    public void PrintsTheMeanScoreOfTheLines_AfterTheCheckpointListing()
    {
        var file = Path.Combine(CliRun.TempFolder(), "texts.txt");
        string[] lines = ["anna", "bob", "emmanuel"];
        File.WriteAllLines(file, lines);
        var result = CliRun.Invoke("inspect", TinyNamesModel.File, "--mnn", file);
        Assert.True(result.ExitCode == 0, result.Error);
        Assert.Contains("training checkpoint", result.Out);
        var m = Regex.Match(result.Out, @"MNN/T, last hidden states, width 16\) over 3 lines of '.*': mean (\d+\.\d{4})");
        Assert.True(m.Success, result.Out);
        var (gpt, tokenizer, _) = NamesModelFile.Load(TinyNamesModel.File);
        gpt.Eval();
        double expected = lines.Average(l => Naive(gpt, tokenizer, l));
        Assert.Equal(expected, double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture), 4);
    }

    [Fact]
    public void MnnOnAFolder_IsAOneLineUserError()
    {
        var folder = CliRun.TempFolder();
        CliAssert.OneLineUserError(CliRun.Invoke("inspect", folder, "--mnn", "male"), "inspect", "--mnn", folder);
    }
}
