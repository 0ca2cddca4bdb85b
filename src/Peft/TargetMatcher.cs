using System.Text.RegularExpressions;

namespace Engine.Peft;

/// <summary>
/// Decides which modules a configuration adapts, with Hugging Face PEFT's rules (<c>check_target_module_exists</c>):
/// a name list matches a path equal to a name or ending in "." + name; a regular expression must match the whole
/// path; excluded names win; <see cref="PeftConfig.LayersToTransform"/> keeps only the listed layer indices.
/// Each rule is tried on the engine path and on the PEFT path.
/// </summary>
public static partial class TargetMatcher
{
    /// <summary>True when <paramref name="path"/> is one of the modules <paramref name="config"/> adapts.</summary>
    public static bool IsTarget(PeftConfig config, ModulePath path)
    {
        if (config.ExcludeModules is { } excluded && path.Names.Any(n => MatchesName(excluded, n))) return false;
        bool targeted = config.TargetModulesRegex is { } regex
            ? path.Names.Any(n => Regex.IsMatch(n, $"^(?:{regex})$"))
            : config.TargetModules is { } names && path.Names.Any(n => MatchesName(names, n));
        if (!targeted) return false;
        if (config.LayersToTransform is { } layers)
        {
            int? index = LayerIndex(path.Engine);
            if (index is null || !layers.Contains(index.Value)) return false;
        }
        return true;
    }

    /// <summary>True when <paramref name="path"/> equals one of <paramref name="names"/> or ends with "." + one of them.</summary>
    public static bool MatchesName(IEnumerable<string> names, string path)
        => names.Any(n => path == n || path.EndsWith("." + n, StringComparison.Ordinal));

    /// <summary>
    /// The layer index of a path: its first purely numeric component (<c>blocks.3.attn.qkv</c> → 3), or null.
    /// </summary>
    public static int? LayerIndex(string path)
    {
        var m = NumericComponent().Match(path);
        return m.Success ? int.Parse(m.Groups[1].Value) : null;
    }

    /// <summary>
    /// The value of the first pattern key that matches the end of the path on a dot boundary, as PEFT's
    /// <c>rank_pattern</c>/<c>alpha_pattern</c> (<c>re.match(r"(.*\.)?(key)$", path)</c>), or null.
    /// </summary>
    public static T? FindPattern<T>(IReadOnlyDictionary<string, T>? patterns, ModulePath path) where T : struct
    {
        if (patterns is null) return null;
        foreach (var (key, value) in patterns)
            if (path.Names.Any(n => Regex.IsMatch(n, $"^(?:.*\\.)?(?:{key})$"))) return value;
        return null;
    }

    [GeneratedRegex(@"(?:^|\.)(\d+)(?:\.|$)")]
    private static partial Regex NumericComponent();
}
