using System.Text.RegularExpressions;

namespace Engine.Docs.Tests;

/// <summary>
/// The regions of the example files (docs/examples/*.cs) that the docs show: lines between
/// <c>// doc-begin: NAME</c> and <c>// doc-end: NAME</c>. A name may have several parts (the <c>using</c> lines at the
/// top of a file, then a method body); the region is its parts in file order.
/// </summary>
public static partial class ExampleRegions
{
    [GeneratedRegex(@"^\s*//\s*doc-(?<kind>begin|end):\s*(?<name>\S+)\s*$")]
    private static partial Regex Marker();

    /// <summary>Region name to its normalised text, over the given files.</summary>
    public static Dictionary<string, (string File, string Text)> Parse(IEnumerable<(string File, string Text)> files)
    {
        var regions = new Dictionary<string, (string File, List<string> Lines)>();
        foreach (var (file, text) in files)
        {
            var lines = text.Replace("\r\n", "\n").Split('\n');
            string? open = null;
            var part = new List<string>();
            for (int i = 0; i < lines.Length; i++)
            {
                var m = Marker().Match(lines[i]);
                if (!m.Success)
                {
                    if (open is not null) part.Add(lines[i]);
                    continue;
                }
                string name = m.Groups["name"].Value;
                if (m.Groups["kind"].Value == "begin")
                {
                    if (open is not null) throw new InvalidDataException($"{file}:{i + 1}: doc-begin: {name} inside the open region {open}");
                    open = name;
                    part.Clear();
                }
                else
                {
                    if (open != name) throw new InvalidDataException($"{file}:{i + 1}: doc-end: {name} does not close {open ?? "any region"}");
                    if (regions.TryGetValue(name, out var existing) && existing.File != file)
                        throw new InvalidDataException($"{file}:{i + 1}: region {name} is also in {existing.File}");
                    if (!regions.ContainsKey(name)) regions[name] = (file, new List<string>());
                    regions[name].Lines.AddRange(Dedent(part));
                    open = null;
                }
            }
            if (open is not null) throw new InvalidDataException($"{file}: region {open} is never closed (doc-end: {open})");
        }
        return regions.ToDictionary(r => r.Key, r => (r.Value.File, Normalise(r.Value.Lines)));
    }

    /// <summary>Lines without trailing spaces and without their common indentation, leading and trailing blank lines dropped.</summary>
    public static string Normalise(IEnumerable<string> lines)
    {
        var dedented = Dedent(lines).ToList();
        int first = dedented.FindIndex(l => l.Length > 0), last = dedented.FindLastIndex(l => l.Length > 0);
        return first < 0 ? "" : string.Join("\n", dedented.Skip(first).Take(last - first + 1));
    }

    static IEnumerable<string> Dedent(IEnumerable<string> lines)
    {
        var trimmed = lines.Select(l => l.TrimEnd()).ToList();
        int indent = trimmed.Where(l => l.Length > 0).Select(l => l.Length - l.TrimStart().Length).DefaultIfEmpty(0).Min();
        return trimmed.Select(l => l.Length == 0 ? l : l[indent..]);
    }
}
