using System.Globalization;

namespace Engine.Cli;

/// <summary>
/// <c>engine zoo --update</c>: the rows of a fresh run replace the same methods' rows of the table already in the
/// README, and the other rows stay, so adding methods costs their own runs rather than the whole zoo's (about a minute
/// per method). Rows are keyed by their first cell (the method name) and ordered as <c>engine zoo</c> lists methods.
/// </summary>
static class ZooTableRows
{
    /// <summary>What the column of a row from a run without the MiniLM column shows in a table with it.</summary>
    public const string NotRun = " not run |";

    /// <summary>
    /// The table of <paramref name="fresh"/> (a whole table from <see cref="ZooCommand.Table"/>) with the rows of
    /// <paramref name="existing"/> (the text between the README's markers) kept for the methods the fresh run left out.
    /// </summary>
    /// <param name="order">Every method name in the zoo's order; rows of methods no longer registered are dropped.</param>
    public static string Merge(string existing, string fresh, IReadOnlyList<string> order)
    {
        var (freshHead, freshRows) = Split(fresh);
        var (_, oldRows) = Split(existing);
        bool freshHasSpam = freshHead.Any(l => l.StartsWith("| method", StringComparison.Ordinal) && l.Contains("MiniLM", StringComparison.Ordinal));
        bool oldHasSpam = oldRows.Values.Any(r => Cells(r).Length == 13);
        var head = freshHead;
        if (!freshHasSpam && oldHasSpam)
        {
            // Keep the older rows' MiniLM column; the fresh rows did not run it.
            head = [.. freshHead.Select(l => l.StartsWith("| method", StringComparison.Ordinal) ? l + " MiniLM spam acc / F1 (s) |"
                : l.StartsWith("|---", StringComparison.Ordinal) ? l + "---:|" : l)];
            freshRows = freshRows.ToDictionary(kv => kv.Key, kv => kv.Value + NotRun);
        }
        else if (freshHasSpam)
            oldRows = oldRows.ToDictionary(kv => kv.Key, kv => Cells(kv.Value).Length == 13 ? kv.Value : kv.Value + NotRun);
        var rows = order.Select(m => freshRows.TryGetValue(m, out var f) ? f : oldRows.GetValueOrDefault(m)).OfType<string>();
        return string.Join("\n", head.Concat(rows));
    }

    /// <summary>Every row of a zoo table as its chart reads it: method, trainable parameters, validation loss before and after.</summary>
    public static IEnumerable<(string Method, long Trainable, double LossBefore, double LossAfter)> Points(string table) =>
        Split(table).Rows.Values.Select(Cells).Select(c => (c[0], long.Parse(c[4], NumberStyles.AllowThousands, CultureInfo.InvariantCulture),
            double.Parse(c[7], CultureInfo.InvariantCulture), double.Parse(c[8], CultureInfo.InvariantCulture)));

    // The lines up to and including the |---| separator, and the rows after it by method name.
    static (List<string> Head, Dictionary<string, string> Rows) Split(string table)
    {
        var lines = table.Replace("\r", "").Split('\n').ToList();
        int separator = lines.FindIndex(l => l.StartsWith("|---", StringComparison.Ordinal));
        if (separator < 0) return (lines, []);
        var rows = new Dictionary<string, string>();
        foreach (var line in lines.Skip(separator + 1).Where(l => l.StartsWith("| ", StringComparison.Ordinal)))
            rows[Cells(line)[0]] = line;
        return (lines.Take(separator + 1).ToList(), rows);
    }

    static string[] Cells(string row) => row.Trim().Trim('|').Split('|').Select(c => c.Trim()).ToArray();
}
