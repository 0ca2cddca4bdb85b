namespace Engine.Docs.Tests;

/// <summary>The docs' C# blocks are the compiled, tested examples of docs/examples (see <see cref="DocCoverage"/>).</summary>
public sealed class DocBlockTests
{
    [Fact]
    public void EveryCSharpBlockOfTheDocsIsACompiledExample()
    {
        var problems = DocCoverage.Problems(DocCoverage.RepositoryFences(), DocCoverage.RepositoryRegions());
        Assert.True(problems.Count == 0, string.Join("\n", problems));
    }

    [Fact]
    public void TheDocsAndTheExamplesAreFound()
    {
        // Guards the test above against passing because nothing was read.
        var fences = DocCoverage.RepositoryFences();
        Assert.Contains(fences, f => f.File == "README.md" && f.IsCSharp);
        foreach (var page in new[] { "docs/autograd.md", "docs/nn.md", "docs/ssm.md", "docs/adapters.md" })
            Assert.Contains(fences, f => f.File == page && f.IsCSharp);
        Assert.True(DocCoverage.RepositoryRegions().Count >= 9, "expected the example regions of docs/examples");
    }

    static readonly Dictionary<string, (string File, string Text)> Regions = ExampleRegions.Parse([("Example.cs", """
        // doc-begin: sum
        using Engine;
        // doc-end: sum
        static class C
        {
            static void M()
            {
                // doc-begin: sum

                var x = Tensor.Ones([2]);
                if (true)
                    x = x * 2;
                // doc-end: sum
            }
        }
        """)]);

    static List<Fence> Doc(string text) => MarkdownFences.Parse("doc.md", text);

    [Fact]
    public void ABlockEqualToItsRegionPasses_WhateverItsIndentation() =>
        Assert.Empty(DocCoverage.Problems(Doc("- a list item:\n\n   ```csharp\n   using Engine;\n\n   var x = Tensor.Ones([2]);\n   if (true)\n       x = x * 2;\n   ```\n"), Regions));

    [Fact]
    public void ABlockThatDiffersFromItsRegionIsReported()
    {
        var problems = DocCoverage.Problems(Doc("```csharp\nusing Engine;\n\nvar x = Tensor.Ones([3]);\nif (true)\n    x = x * 2;\n```\n"), Regions);
        Assert.Contains(problems, p => p.Contains("doc.md:1") && p.Contains("Tensor.Ones([3])") && p.Contains("nearest is sum"));
    }

    [Fact]
    public void ABlockWithChangedRelativeIndentationIsReported() =>
        Assert.NotEmpty(DocCoverage.Problems(Doc("```csharp\nusing Engine;\n\nvar x = Tensor.Ones([2]);\nif (true)\nx = x * 2;\n```\n"), Regions));

    [Fact]
    public void AFenceWithoutALanguageIsReported() =>
        Assert.Contains(DocCoverage.Problems(Doc("```\nvar y = 1;\n```\n"), Regions), p => p.Contains("without a language"));

    [Fact]
    public void ARegionNoBlockShowsIsReported() =>
        Assert.Contains(DocCoverage.Problems(Doc("```text\noutput\n```\n"), Regions), p => p.Contains("region sum is shown by no C# block"));

    [Fact]
    public void AnUnclosedRegionIsAnError() =>
        Assert.Throws<InvalidDataException>(() => ExampleRegions.Parse([("E.cs", "// doc-begin: a\nvar x = 1;\n")]));
}
