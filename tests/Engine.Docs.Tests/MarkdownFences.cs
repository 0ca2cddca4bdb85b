using System.Text.RegularExpressions;

namespace Engine.Docs.Tests;

/// <summary>A fenced code block of a Markdown file: its info string (language) and its lines.</summary>
public sealed record Fence(string File, int Line, string Language, IReadOnlyList<string> Lines)
{
    /// <summary>C# under any of its usual fence names.</summary>
    public bool IsCSharp => Language is "csharp" or "cs" or "c#" or "C#";

    public override string ToString() => $"{File}:{Line} ```{Language}";
}

/// <summary>Reads the fenced code blocks (``` or ~~~, possibly indented inside a list) of Markdown text.</summary>
public static partial class MarkdownFences
{
    [GeneratedRegex(@"^(?<indent>\s*)(?<fence>`{3,}|~{3,})\s*(?<info>[^`\s]*)")]
    private static partial Regex Opening();

    public static List<Fence> Parse(string file, string text)
    {
        var lines = text.Replace("\r\n", "\n").Split('\n');
        var fences = new List<Fence>();
        for (int i = 0; i < lines.Length; i++)
        {
            var open = Opening().Match(lines[i]);
            if (!open.Success) continue;
            string marker = open.Groups["fence"].Value;
            int start = i;
            var body = new List<string>();
            for (i++; i < lines.Length && !IsClosing(lines[i], marker); i++) body.Add(lines[i]);
            if (i == lines.Length) throw new InvalidDataException($"{file}:{start + 1}: the code fence opened here is never closed");
            fences.Add(new Fence(file, start + 1, open.Groups["info"].Value, body));
        }
        return fences;
    }

    // CommonMark: a closing fence is the same character, at least as long, with nothing after it.
    static bool IsClosing(string line, string marker)
    {
        string t = line.Trim();
        return t.Length >= marker.Length && t.All(c => c == marker[0]);
    }
}
