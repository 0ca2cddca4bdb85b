using Engine.Nn;
using Xunit;

namespace Engine.Cli.Tests;

/// <summary>
/// <c>engine train --holdout</c>: a base for <c>engine merge</c> must not train on the names its fine-tunes are validated
/// on, so the held-out names are the validation split that <c>NamesCorpus</c> (the library's split, which
/// <c>engine finetune</c> uses) makes of each set with the same seed.
/// </summary>
[Collection(ConsoleCollection.Name)]
public sealed class TrainHoldoutTests
{
    static List<string> Lines(string set) => File.ReadAllLines(Path.Combine(RepositoryRoot(), "data", "names", set + ".txt"))
        .Select(l => l.Trim()).Where(l => l.Length > 0).ToList();

    static string RepositoryRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Engine.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new DirectoryNotFoundException("no Engine.sln above the test binaries");
    }

    [Theory]
    [InlineData(1UL)]
    [InlineData(7UL)]
    public void Holdout_RemovesExactlyTheValidationNamesOfEachSet(ulong seed)
    {
        var female = Lines("female");
        var male = Lines("male");
        var all = female.Concat(male).ToList();
        var tokenizer = CharTokenizer.FromTexts(all);
        var heldOut = new[] { female, male }.SelectMany(set => new NamesCorpus(set, tokenizer, 0.1, seed).ValidationTexts).ToHashSet();
        int expected = all.Count(n => !heldOut.Contains(n));
        Assert.True(expected < all.Count - 800, "the held-out sets should remove about a tenth of the names");

        var result = CliRun.Invoke("train", "--data", "all", "--holdout", "female", "male", "--seed", seed.ToString(), "--steps", "1",
            "--samples", "0", "--width", "16", "--layers", "1", "--heads", "2", "--context", "8", "--batch", "2",
            "--out", Path.Combine(CliRun.TempFolder(), "base.safetensors"));
        Assert.True(result.ExitCode == 0, result.Error);
        Assert.Contains($"data: {expected} names", result.Out);
    }

    [Fact]
    public void Holdout_OfAFileOrUnknownSet_IsAOneLineError()
    {
        var result = CliRun.Invoke("train", "--holdout", "spam", "--steps", "1", "--out", Path.Combine(CliRun.TempFolder(), "c.safetensors"));
        CliAssert.OneLineUserError(result, "train", "--holdout", "spam");
    }
}
