namespace Engine.Cli;

/// <summary>
/// The text "corruptions" of <c>engine tta</c>'s test stream (spec seeds-remaining.md §4's demo): each maps a message
/// (subject, newline, body) to a shifted one with a seeded <see cref="Random"/>, the text analogue of the image
/// corruptions of CIFAR10-C.
/// </summary>
static class TextCorruptions
{
    /// <summary>The stream's domains in order: five corruptions, then clean text again (to measure forgetting).</summary>
    public static readonly string[] Domains = ["character noise", "random casing", "word dropout", "no subject", "leetspeak", "clean"];

    /// <summary>The message as domain <paramref name="domain"/> shows it.</summary>
    public static string Apply(string domain, string text, Random random) => domain switch
    {
        // 10% of the letters replaced by random lower-case letters.
        "character noise" => new string(text.Select(c => char.IsLetter(c) && random.NextDouble() < 0.1 ? (char)('a' + random.Next(26)) : c).ToArray()),
        "random casing" => new string(text.Select(c => random.NextDouble() < 0.5 ? char.ToUpperInvariant(c) : char.ToLowerInvariant(c)).ToArray()),
        // 20% of the words dropped.
        "word dropout" => string.Join(' ', text.Split(' ').Where(_ => random.NextDouble() >= 0.2)),
        "no subject" => text.IndexOf('\n') is var cut and >= 0 ? text[(cut + 1)..] : text,
        "leetspeak" => new string(text.Select(c => char.ToLowerInvariant(c) switch { 'a' => '4', 'e' => '3', 'i' => '1', 'o' => '0', 's' => '5', 't' => '7', _ => c }).ToArray()),
        "clean" => text,
        _ => throw new ArgumentException($"TextCorruptions: unknown domain '{domain}'"),
    };
}
