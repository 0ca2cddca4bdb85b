using System.Collections;
using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Engine.Peft;

/// <summary>
/// PEFT's way of naming modules in a config (<c>target_modules</c>, <c>exclude_modules</c>, <c>feedforward_modules</c>):
/// a list of names, or one regular expression as a JSON string. Write a list as a collection
/// (<c>TargetModules = ["c_attn", "c_proj"]</c>) and a pattern with <see cref="Regex"/>.
/// </summary>
[CollectionBuilder(typeof(ModuleSelector), nameof(Create))]
[JsonConverter(typeof(ModuleSelectorJsonConverter))]
public sealed class ModuleSelector : IEnumerable<string>
{
    readonly string[] _names;

    ModuleSelector(string[] names, string? pattern)
    {
        _names = names;
        Pattern = pattern;
    }

    /// <summary>A list of names (each matches a module path equal to it or ending in "." + it).</summary>
    public static ModuleSelector Create(ReadOnlySpan<string> names) => new(names.ToArray(), null);

    /// <summary>A regular expression that must match the whole module path (PEFT's string form).</summary>
    public static ModuleSelector Regex(string pattern) => new([], pattern ?? throw new ArgumentNullException(nameof(pattern)));

    /// <summary>The names of a list selector (empty for a pattern).</summary>
    public IReadOnlyList<string> Names => _names;

    /// <summary>The pattern of a regular-expression selector, or null for a list.</summary>
    public string? Pattern { get; }

    /// <summary>
    /// PEFT's target rule (<c>check_target_module_exists</c>): a pattern must match the whole path; a name matches a
    /// path equal to it or ending in "." + name.
    /// </summary>
    public bool MatchesTarget(string path) => Pattern is { } p
        ? PatternRegex.FullMatch(p, path)
        : _names.Any(n => path == n || path.EndsWith("." + n, StringComparison.Ordinal));

    /// <summary>PEFT's IA3 feed-forward rule: a pattern must match the whole path; a name matches any path ending in it.</summary>
    public bool MatchesSuffix(string path) => Pattern is { } p
        ? PatternRegex.FullMatch(p, path)
        : _names.Any(n => path.EndsWith(n, StringComparison.Ordinal));

    /// <inheritdoc/>
    public IEnumerator<string> GetEnumerator() => ((IEnumerable<string>)_names).GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    /// <inheritdoc/>
    public override string ToString() => Pattern is { } p ? $"regex '{p}'" : $"[{string.Join(", ", _names)}]";

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is ModuleSelector o && o.Pattern == Pattern && o._names.SequenceEqual(_names);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(Pattern, _names.Length);
}

/// <summary>JSON of a <see cref="ModuleSelector"/>: an array of strings or one string (a pattern).</summary>
sealed class ModuleSelectorJsonConverter : JsonConverter<ModuleSelector>
{
    public override ModuleSelector? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        switch (reader.TokenType)
        {
            case JsonTokenType.Null: return null;
            case JsonTokenType.String: return ModuleSelector.Regex(reader.GetString()!);
            case JsonTokenType.StartArray:
                var names = new List<string>();
                while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                {
                    if (reader.TokenType != JsonTokenType.String) throw new JsonException("expected a list of module names (strings)");
                    names.Add(reader.GetString()!);
                }
                return ModuleSelector.Create(names.ToArray());
            default: throw new JsonException("expected a list of module names or a regular expression string");
        }
    }

    public override void Write(Utf8JsonWriter writer, ModuleSelector value, JsonSerializerOptions options)
    {
        if (value.Pattern is { } p) { writer.WriteStringValue(p); return; }
        writer.WriteStartArray();
        foreach (var n in value.Names) writer.WriteStringValue(n);
        writer.WriteEndArray();
    }
}
