using Engine.Nn;

namespace Engine.Cli;

/// <summary>
/// The names that <c>engine train</c> and <c>engine finetune</c> learn from (<c>--data</c>), split into training and
/// validation streams, with the checks that make a run meaningful: at least two names, and streams long enough for a
/// training window and for a validation window of the context length (else the validation loss would be NaN).
/// </summary>
static class NamesData
{
    /// <summary>The corpus of <paramref name="names"/> from <paramref name="source"/>, for windows of <paramref name="context"/> tokens.</summary>
    /// <param name="contextName">How the context length was given, for messages: <c>"--context 32"</c>.</param>
    public static NamesCorpus Corpus(IReadOnlyList<string> names, CharTokenizer tokenizer, ulong seed, string source, int context, string contextName)
    {
        if (names.Count < 2) throw new ArgumentException($"--data '{source}' has {names.Count} name(s); training needs at least 2 (one for validation)");
        var corpus = new NamesCorpus(names, tokenizer, 0.1, seed);
        int validationTokens = corpus.ValidationTexts.Sum(t => tokenizer.Encode(t).Length + 1) + 1;
        if (corpus.TrainTokens < context + 2 || validationTokens < context + 1)
            throw new ArgumentException($"--data '{source}': {names.Count} names give {corpus.TrainTokens} training and {validationTokens} validation tokens; " +
                $"{contextName} needs at least {context + 2} and {context + 1}; give more names or a shorter context");
        return corpus;
    }
}
