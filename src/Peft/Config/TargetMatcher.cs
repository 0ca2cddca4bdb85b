using System.Text.RegularExpressions;

namespace Engine.Peft;

/// <summary>
/// Decides which modules a configuration adapts, with Hugging Face PEFT's rules (<c>check_target_module_exists</c>):
/// excluded modules and <c>modules_to_save</c> are never targets; <c>target_modules</c> by <see cref="ModuleSelector"/>;
/// <c>layers_to_transform</c> keeps only the listed layer indices, found with <c>layers_pattern</c>. Each rule is tried
/// on the engine path and on the external (PEFT) path.
/// </summary>
public static partial class TargetMatcher
{
    /// <summary>True when <paramref name="path"/> is one of the modules <paramref name="config"/> adapts.</summary>
    public static bool IsTarget(PeftConfig config, ModulePath path)
    {
        if (config.ExcludeModules is { } excluded && path.Names.Any(excluded.MatchesTarget)) return false;
        if (config.ModulesToSave is { } saved && path.Names.Any(n => MatchesName(saved, n))) return false;
        if (config.TargetModules is not { } targets || !path.Names.Any(targets.MatchesTarget)) return false;
        if (config.LayersToTransform is { } layers)
        {
            int? index = LayerIndex(path, config.LayersPattern);
            if (index is null || !layers.Contains(index.Value)) return false;
        }
        return true;
    }

    /// <summary>True when <paramref name="path"/> equals one of <paramref name="names"/> or ends with "." + one of them.</summary>
    public static bool MatchesName(IEnumerable<string> names, string path)
        => names.Any(n => path == n || path.EndsWith("." + n, StringComparison.Ordinal));

    /// <summary>
    /// The layer index of a module, as PEFT finds it: the number after one of the <paramref name="layersPattern"/>
    /// names (<c>.*\.h\.(\d+)\.</c>), or after any name (<c>.*\.[^.]*\.(\d+)\.</c>) without a pattern; for engine paths
    /// that start with the container (<c>blocks.3.attn.qkv</c>), the first numeric component.
    /// </summary>
    public static int? LayerIndex(ModulePath path, ModuleSelector? layersPattern = null)
    {
        foreach (var name in path.Names)
        {
            var patterns = layersPattern is null ? [@"[^.]*"] : layersPattern.Pattern is { } p ? [p] : layersPattern.Names.Select(Regex.Escape);
            foreach (var pattern in patterns)
            {
                var m = Regex.Match(name, $@"^(?:.*\.)?(?:{pattern})\.(\d+)\.", RegexOptions.NonBacktracking);
                if (m.Success) return int.Parse(m.Groups[1].Value);
            }
        }
        if (layersPattern is not null) return null;
        var first = NumericComponent().Match(path.Engine);
        return first.Success ? int.Parse(first.Groups[1].Value) : null;
    }

    /// <summary>
    /// The value of the first pattern key that matches the end of the path on a dot boundary, as PEFT's
    /// <c>rank_pattern</c>/<c>alpha_pattern</c> (<c>re.match(r"(.*\.)?(key)$", path)</c>), or null.
    /// </summary>
    public static T? FindPattern<T>(IReadOnlyDictionary<string, T>? patterns, ModulePath path) where T : struct
    {
        if (patterns is null) return null;
        foreach (var (key, value) in patterns)
            if (path.Names.Any(n => PatternRegex.MatchesPathEnd(key, n))) return value;
        return null;
    }

    [GeneratedRegex(@"(?:^|\.)(\d+)(?:\.|$)")]
    private static partial Regex NumericComponent();
}
