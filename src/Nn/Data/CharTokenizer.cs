namespace Engine.Nn;

/// <summary>
/// Character-level tokenizer: id 0 is the boundary token written between texts (shown as '\n'), the other ids are
/// the distinct characters of the corpus in ordinal order, so the same corpus always gives the same vocabulary.
/// </summary>
public sealed class CharTokenizer
{
    readonly Dictionary<char, int> _ids;

    /// <summary>The characters by id; index 0 is the boundary.</summary>
    public IReadOnlyList<char> Characters { get; }

    public CharTokenizer(IEnumerable<char> characters)
    {
        var chars = characters.Where(c => c != '\n').Distinct().OrderBy(c => c).ToList();
        chars.Insert(0, '\n');
        Characters = chars;
        _ids = chars.Select((c, i) => (c, i)).ToDictionary(p => p.c, p => p.i);
    }

    /// <summary>A tokenizer over every character of the given texts.</summary>
    public static CharTokenizer FromTexts(IEnumerable<string> texts) => new(texts.SelectMany(t => t));

    public int VocabSize => Characters.Count;

    public const int Boundary = 0;

    /// <summary>Ids of a text; throws naming the character when it is outside the vocabulary.</summary>
    public int[] Encode(string text) => text.Select(c => _ids.TryGetValue(c, out var id)
        ? id
        : throw new ArgumentException($"CharTokenizer: character '{c}' (U+{(int)c:X4}) is not in the vocabulary")).ToArray();

    public string Decode(IEnumerable<int> ids) => new(ids.Select(i => Characters[i]).ToArray());

    /// <summary>The vocabulary as one string (boundary first), for saving with a checkpoint.</summary>
    public string Serialize() => new(Characters.ToArray());

    /// <summary>Rebuilds a tokenizer saved by <see cref="Serialize"/>.</summary>
    public static CharTokenizer Deserialize(string vocabulary) => new(vocabulary);
}
