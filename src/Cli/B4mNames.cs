using Engine.Nn;

namespace Engine.Cli;

/// <summary>
/// The names data of <c>engine b4m</c> (B4M's text adaptation, spec seeds-remaining.md §2): content = names starting
/// with "k", style = names ending in "a", and the names that are both held out of all training (the composition to be
/// made). The auxiliary style sets of the content run are names ending in "n", "e", "y" (and not starting with "k");
/// the auxiliary content sets of the style run are names starting with "m", "j", "d" (and not ending in "a"), so that
/// each auxiliary set carries only its own attribute. Letters compare case-insensitively (the corpus is capitalised).
/// </summary>
sealed class B4mNames
{
    /// <summary>The content set: starts with k, does not end in a.</summary>
    public required IReadOnlyList<string> Content { get; init; }

    /// <summary>The style set: ends in a, does not start with k.</summary>
    public required IReadOnlyList<string> Style { get; init; }

    /// <summary>The held-out compositions: start with k and end in a (never trained on).</summary>
    public required IReadOnlyList<string> HeldOut { get; init; }

    /// <summary>The content run's auxiliary style sets, each with its label ("…n").</summary>
    public required IReadOnlyList<(string Label, IReadOnlyList<string> Names)> AuxiliaryStyles { get; init; }

    /// <summary>The style run's auxiliary content sets, each with its label ("m…").</summary>
    public required IReadOnlyList<(string Label, IReadOnlyList<string> Names)> AuxiliaryContents { get; init; }

    /// <summary>Names the checkpoint's vocabulary cannot encode, left out.</summary>
    public int Unencodable { get; init; }

    /// <summary>True for a name that starts with k (any case).</summary>
    public static bool StartsWithK(string name) => name.Length > 0 && char.ToLowerInvariant(name[0]) == 'k';

    /// <summary>True for a name that ends in a (any case).</summary>
    public static bool EndsWithA(string name) => name.Length > 0 && char.ToLowerInvariant(name[^1]) == 'a';

    /// <summary>The sets from <paramref name="names"/> (duplicates removed), keeping the names <paramref name="tokenizer"/> can encode.</summary>
    /// <exception cref="ArgumentException">A set the demo needs has fewer than 2 names.</exception>
    public static B4mNames From(IEnumerable<string> names, CharTokenizer tokenizer)
    {
        var all = names.Distinct(StringComparer.Ordinal).ToList();
        var usable = all.Where(n => n.All(c => tokenizer.Characters.Contains(c))).ToList();
        bool Starts(string n, char c) => char.ToLowerInvariant(n[0]) == c;
        bool Ends(string n, char c) => char.ToLowerInvariant(n[^1]) == c;
        var sets = new B4mNames
        {
            Content = usable.Where(n => StartsWithK(n) && !EndsWithA(n)).ToList(),
            Style = usable.Where(n => EndsWithA(n) && !StartsWithK(n)).ToList(),
            HeldOut = usable.Where(n => StartsWithK(n) && EndsWithA(n)).ToList(),
            AuxiliaryStyles = "ney".Select(c => ($"…{c}", (IReadOnlyList<string>)usable.Where(n => Ends(n, c) && !StartsWithK(n)).ToList())).ToList(),
            AuxiliaryContents = "mjd".Select(c => ($"{char.ToUpperInvariant(c)}…", (IReadOnlyList<string>)usable.Where(n => Starts(n, c) && !EndsWithA(n)).ToList())).ToList(),
            Unencodable = all.Count - usable.Count,
        };
        foreach (var (label, set) in new[] { ("content (K…)", sets.Content), ("style (…a)", sets.Style), ("held-out (K…a)", sets.HeldOut) }
            .Concat(sets.AuxiliaryStyles.Concat(sets.AuxiliaryContents).Select(s => ($"auxiliary {s.Label}", s.Names))))
            if (set.Count < 2) throw new ArgumentException($"b4m: the {label} set has {set.Count} name(s) the checkpoint's vocabulary can encode; it needs at least 2");
        return sets;
    }
}
