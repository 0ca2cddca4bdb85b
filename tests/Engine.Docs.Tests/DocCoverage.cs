namespace Engine.Docs.Tests;

/// <summary>
/// Holds the docs to the compiled examples: every C# block must be the text of an example region (so it compiles
/// and a test runs it), every fence must name its language (so C# cannot hide in an unmarked fence), and every
/// region must be shown somewhere (so an example does not outlive its block).
/// </summary>
public static class DocCoverage
{
    /// <summary>The Markdown files whose blocks are held to the examples, relative to the repository root.</summary>
    public static IEnumerable<string> MarkdownFiles() =>
        new[] { "README.md", "samples/README.md" }
            .Concat(Directory.GetFiles(RepositoryFolder.PathOf("docs"), "*.md").Select(f => Path.GetRelativePath(RepositoryFolder.Root, f)))
            .Where(f => File.Exists(RepositoryFolder.PathOf(f)))
            .Select(f => f.Replace('\\', '/'))
            .OrderBy(f => f, StringComparer.Ordinal);

    public static List<Fence> RepositoryFences() =>
        MarkdownFiles().SelectMany(f => MarkdownFences.Parse(f, File.ReadAllText(RepositoryFolder.PathOf(f)))).ToList();

    public static Dictionary<string, (string File, string Text)> RepositoryRegions() =>
        ExampleRegions.Parse(Directory.GetFiles(RepositoryFolder.PathOf("docs/examples"), "*.cs").OrderBy(f => f, StringComparer.Ordinal)
            .Select(f => (Path.GetRelativePath(RepositoryFolder.Root, f).Replace('\\', '/'), File.ReadAllText(f))));

    /// <summary>One line per problem; empty when every rule holds.</summary>
    public static List<string> Problems(IReadOnlyList<Fence> fences, IReadOnlyDictionary<string, (string File, string Text)> regions)
    {
        var problems = new List<string>();
        var shown = new HashSet<string>();
        var byText = regions.GroupBy(r => r.Value.Text).ToDictionary(g => g.Key, g => g.Select(r => r.Key).ToList());
        foreach (var fence in fences)
        {
            if (fence.Language.Length == 0)
            {
                problems.Add($"{fence.File}:{fence.Line}: a fence without a language; write ```csharp for C# (it must then be an example region) or ```text, ```bash, ...");
                continue;
            }
            if (!fence.IsCSharp) continue;
            string text = ExampleRegions.Normalise(fence.Lines);
            if (byText.TryGetValue(text, out var names)) shown.UnionWith(names);
            else problems.Add($"{fence.File}:{fence.Line}: this C# block is not an example region of docs/examples/*.cs; {Nearest(text, regions)}");
        }
        foreach (var (name, (file, _)) in regions)
            if (!shown.Contains(name)) problems.Add($"{file}: region {name} is shown by no C# block of the docs");
        return problems;
    }

    // The region sharing the most lines with the block, and the first line where they differ, to make a stale block easy to fix.
    static string Nearest(string block, IReadOnlyDictionary<string, (string File, string Text)> regions)
    {
        var lines = block.Split('\n');
        var best = regions.Select(r => (r.Key, r.Value.File, Lines: r.Value.Text.Split('\n')))
            .OrderByDescending(r => r.Lines.Intersect(lines).Count()).FirstOrDefault();
        if (best.Key is null) return "there are no regions";
        int i = 0;
        while (i < lines.Length && i < best.Lines.Length && lines[i] == best.Lines[i]) i++;
        string docLine = i < lines.Length ? lines[i] : "(end of block)";
        string regionLine = i < best.Lines.Length ? best.Lines[i] : "(end of region)";
        return $"nearest is {best.Key} in {best.File}, which differs at line {i + 1} of the block: doc `{docLine.Trim()}` vs example `{regionLine.Trim()}`";
    }
}
