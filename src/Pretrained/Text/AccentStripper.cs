using System.Globalization;
using System.Text;

namespace Engine.Pretrained.Text;

/// <summary>
/// Hugging Face BERT's accent stripping (<c>_run_strip_accents</c>): decompose the text (Unicode NFD), then drop the
/// non-spacing marks, so 'Héllo' becomes 'Hello'. The engine builds with InvariantGlobalization, where
/// <see cref="string.Normalize(NormalizationForm)"/> leaves non-ASCII text unchanged, so the decompositions come from
/// a table (CanonicalDecompositions.txt, written by make_decompositions.py from Python's unicodedata) plus the
/// Hangul formula of Unicode section 3.12. Canonical reordering is skipped: it only orders marks that are dropped.
/// </summary>
public static class AccentStripper
{
    static readonly Lazy<Dictionary<int, int[]>> Decompositions = new(ReadTable);

    /// <summary>The text decomposed, without non-spacing marks.</summary>
    public static string Strip(string text)
    {
        var table = Decompositions.Value;
        var result = new StringBuilder(text.Length);
        foreach (var rune in text.EnumerateRunes())
        {
            if (table.TryGetValue(rune.Value, out var parts))
                foreach (int part in parts) Append(result, new Rune(part));
            else if (rune.Value is >= HangulFirst and <= HangulLast)
                AppendHangul(result, rune.Value);
            else
                Append(result, rune);
        }
        return result.ToString();
    }

    static void Append(StringBuilder into, Rune rune)
    {
        if (Rune.GetUnicodeCategory(rune) != UnicodeCategory.NonSpacingMark) into.Append(rune.ToString());
    }

    // Hangul syllables decompose by formula into a leading consonant, a vowel and an optional trailing consonant.
    const int HangulFirst = 0xAC00, HangulLast = 0xD7A3, LeadBase = 0x1100, VowelBase = 0x1161, TrailBase = 0x11A7;
    const int VowelCount = 21, TrailCount = 28;

    static void AppendHangul(StringBuilder into, int syllable)
    {
        int index = syllable - HangulFirst;
        into.Append((char)(LeadBase + index / (VowelCount * TrailCount)));
        into.Append((char)(VowelBase + index % (VowelCount * TrailCount) / TrailCount));
        if (index % TrailCount != 0) into.Append((char)(TrailBase + index % TrailCount));
    }

    static Dictionary<int, int[]> ReadTable()
    {
        using var stream = typeof(AccentStripper).Assembly.GetManifestResourceStream("Engine.Pretrained.CanonicalDecompositions.txt")
            ?? throw new InvalidOperationException("AccentStripper: the decomposition table is not embedded in Engine.Pretrained");
        using var reader = new StreamReader(stream);
        var table = new Dictionary<int, int[]>();
        while (reader.ReadLine() is { } line)
        {
            if (line.StartsWith('#')) continue;
            var fields = line.Split(' ').Select(f => int.Parse(f, NumberStyles.HexNumber, CultureInfo.InvariantCulture)).ToArray();
            table[fields[0]] = fields[1..];
        }
        return table;
    }
}
