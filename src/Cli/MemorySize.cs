using System.Globalization;
using System.Text.RegularExpressions;

namespace Engine.Cli;

/// <summary>
/// Sizes as the user writes them for <c>--memory-budget</c>: a number with an optional unit, B, KB, MB or GB (also
/// KiB, MiB, GiB; case-insensitive), in binary multiples (1 KB = 1024 bytes), as BitStack's <c>max_memory_MB</c> is
/// (<c>bitstack/utils/model_utils.py</c>: MB × 1024²). <c>2MB</c>, <c>500KB</c>, <c>1.5 MB</c>, <c>300000</c>.
/// </summary>
static partial class MemorySize
{
    [GeneratedRegex(@"^\s*(\d+(?:\.\d+)?)\s*([kmg]i?b|b)?\s*$", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex Pattern();

    /// <summary>The number of bytes <paramref name="text"/> stands for.</summary>
    /// <exception cref="ArgumentException">Not a size, zero, or too large; the message names <paramref name="option"/>.</exception>
    public static long Parse(string text, string option)
    {
        var match = Pattern().Match(text ?? "");
        if (!match.Success)
            throw new ArgumentException($"{option} '{text}' is not a size; write a number with an optional unit B, KB, MB or GB (1 KB = 1024 bytes), e.g. 2MB or 500KB");
        double number = double.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture);
        double unit = match.Groups[2].Value.ToUpperInvariant() switch
        {
            "" or "B" => 1,
            "KB" or "KIB" => 1024,
            "MB" or "MIB" => 1024.0 * 1024,
            _ => 1024.0 * 1024 * 1024,
        };
        double bytes = Math.Floor(number * unit);
        if (bytes < 1) throw new ArgumentException($"{option} '{text}' is less than one byte");
        if (bytes > long.MaxValue / 2) throw new ArgumentException($"{option} '{text}' is too large");
        return (long)bytes;
    }

    /// <summary>Bytes as KB with one decimal, for tables.</summary>
    public static string Kb(long bytes) => (bytes / 1024.0).ToString("F1", CultureInfo.InvariantCulture);
}
