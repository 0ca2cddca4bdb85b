using System.Collections.Concurrent;
using System.Text.RegularExpressions;

namespace Engine.Peft;

/// <summary>
/// Regular expressions from configuration files (<c>target_modules</c>, <c>rank_pattern</c> keys...), which may be
/// hostile: they run on .NET's non-backtracking engine (linear time, so <c>([a-z]+)+x</c> cannot hang), falling back to
/// the backtracking engine with a one-second timeout only for constructs it lacks. A bad pattern is an
/// <see cref="ArgumentException"/> that names it.
/// </summary>
public static class PatternRegex
{
    static readonly ConcurrentDictionary<string, Regex> Cache = new();
    static readonly TimeSpan Timeout = TimeSpan.FromSeconds(1);

    /// <summary>True when <paramref name="pattern"/> matches the whole of <paramref name="text"/> (Python's <c>re.fullmatch</c>).</summary>
    public static bool FullMatch(string pattern, string text) => Run(Compile($"^(?:{pattern})$", pattern), text, pattern);

    /// <summary>True when <paramref name="pattern"/> matches the end of <paramref name="path"/> on a dot boundary (PEFT's <c>re.match(r"(.*\.)?(key)$", path)</c>).</summary>
    public static bool MatchesPathEnd(string pattern, string path) => Run(Compile($"^(?:.*\\.)?(?:{pattern})$", pattern), path, pattern);

    /// <summary>True when <paramref name="pattern"/> matches anywhere in <paramref name="text"/> (Python's <c>re.search</c>; OSF's <c>rank_pattern</c>).</summary>
    public static bool Search(string pattern, string text) => Run(Compile($"(?:{pattern})", pattern), text, pattern);

    /// <summary>
    /// Compiles <paramref name="pattern"/> in both forms the matchers use, so a configuration reports a bad pattern when it
    /// is read rather than when a module is first matched.
    /// </summary>
    /// <exception cref="ArgumentException">The pattern is not a valid regular expression; the message names <paramref name="field"/>.</exception>
    public static void Check(string field, string pattern)
    {
        try
        {
            Compile($"^(?:{pattern})$", pattern);
            Compile($"^(?:.*\\.)?(?:{pattern})$", pattern);
        }
        catch (ArgumentException e) { throw new ArgumentException($"{field}: {e.Message}", e); }
    }

    static bool Run(Regex regex, string text, string pattern)
    {
        try { return regex.IsMatch(text); }
        catch (RegexMatchTimeoutException) { throw new ArgumentException($"pattern '{pattern}' took longer than {Timeout.TotalSeconds} s on '{text}'; simplify it"); }
    }

    // Bounded: hostile files can bring any number of distinct patterns.
    static Regex Compile(string full, string pattern)
    {
        if (Cache.Count > 4096) Cache.Clear();
        return Cache.GetOrAdd(full, f => Create(f, pattern));
    }

    static Regex Create(string f, string pattern)
    {
        try { return new Regex(f, RegexOptions.NonBacktracking | RegexOptions.CultureInvariant); }
        catch (NotSupportedException) { }
        catch (ArgumentException e) { throw new ArgumentException($"pattern '{pattern}' is not a valid regular expression: {e.Message}", e); }
        try { return new Regex(f, RegexOptions.CultureInvariant, Timeout); }
        catch (ArgumentException e) { throw new ArgumentException($"pattern '{pattern}' is not a valid regular expression: {e.Message}", e); }
    }
}
