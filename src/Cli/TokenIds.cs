using System.Globalization;

namespace Engine.Cli;

/// <summary>Token ids given on the command line as <c>--ids 1,2,3</c>.</summary>
static class TokenIds
{
    /// <summary>Parses comma-separated ids and checks each lies in [0, vocabSize).</summary>
    /// <exception cref="ArgumentException">An entry is not an integer, or is outside the vocabulary, or the list is empty.</exception>
    public static int[] Parse(string text, int vocabSize)
    {
        var parts = text.Split(',', StringSplitOptions.TrimEntries);
        if (parts.Length == 0 || parts.All(p => p.Length == 0))
            throw new ArgumentException("--ids: no token ids given (expected e.g. --ids 1,2,3)");
        var ids = new int[parts.Length];
        for (int i = 0; i < parts.Length; i++)
        {
            if (!int.TryParse(parts[i], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out ids[i]))
                throw new ArgumentException($"--ids: '{parts[i]}' is not an integer token id (expected e.g. --ids 1,2,3)");
            Check(ids[i], vocabSize, "--ids");
        }
        return ids;
    }

    /// <summary>Throws when <paramref name="id"/> is outside the model's vocabulary [0, vocabSize).</summary>
    public static void Check(int id, int vocabSize, string source)
    {
        if (id < 0 || id >= vocabSize)
            throw new ArgumentException($"{source}: token id {id} is out of vocabulary (the model has {vocabSize} tokens: 0 to {vocabSize - 1})");
    }
}
