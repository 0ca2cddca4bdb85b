using Xunit;

namespace Engine.Nn.Tests;

public class DataTests
{
    static readonly string[] Names = ["emma", "olivia", "ava", "isabella", "sophia", "mia", "amelia", "harper", "evelyn", "abigail",
        "emily", "ella", "elizabeth", "camila", "luna", "sofia", "avery", "mila", "aria", "scarlett"];

    static long[] NaiveStream(IEnumerable<string> texts, CharTokenizer tok)
    {
        var ids = new List<long> { 0 };
        foreach (var t in texts)
        {
            ids.AddRange(tok.Encode(t).Select(i => (long)i));
            ids.Add(0);
        }
        return ids.ToArray();
    }

    [Fact]
    public void CharTokenizer_EncodeThenDecode_RoundTrips()
    {
        var tok = CharTokenizer.FromTexts(Names);
        foreach (var n in Names) Assert.Equal(n, tok.Decode(tok.Encode(n)));
        Assert.Equal('\n', tok.Characters[0]);
        Assert.Equal(Names.SelectMany(n => n).Distinct().Count() + 1, tok.VocabSize);
        Assert.Equal(tok.Characters, CharTokenizer.Deserialize(tok.Serialize()).Characters);
    }

    [Fact]
    public void CharTokenizer_OrdersCharactersOrdinallyAfterTheBoundary()
    {
        var tok = CharTokenizer.FromTexts(["cab", "b"]);
        Assert.Equal(['\n', 'a', 'b', 'c'], tok.Characters);
        Assert.Equal([3, 1, 2], tok.Encode("cab"));
    }

    [Fact]
    public void CharTokenizer_UnknownCharacter_IsNamedInTheError()
    {
        var e = Assert.Throws<ArgumentException>(() => CharTokenizer.FromTexts(Names).Encode("zoë"));
        Assert.Contains("'ë'", e.Message);
        Assert.Contains("U+00EB", e.Message);
        Assert.Contains("not in the vocabulary", e.Message);
    }

    [Fact]
    public void NamesCorpus_SplitsOffTheValidationFractionAndKeepsEveryText()
    {
        var corpus = new NamesCorpus(Names, CharTokenizer.FromTexts(Names), validationFraction: 0.15, seed: 3);
        Assert.Equal(3, corpus.ValidationTexts.Count);
        Assert.Equal(17, corpus.TrainTexts.Count);
        Assert.Equal(Names.Order(), corpus.TrainTexts.Concat(corpus.ValidationTexts).Order());
        Assert.Equal(corpus.TrainTexts.Sum(t => t.Length) + corpus.TrainTexts.Count + 1, corpus.TrainTokens);
        var again = new NamesCorpus(Names, CharTokenizer.FromTexts(Names), validationFraction: 0.15, seed: 3);
        Assert.Equal(corpus.ValidationTexts, again.ValidationTexts);
    }

    [Fact]
    public void NamesCorpus_BatchTargetsAreTheInputsShiftedByOneWithinTheTrainingStream()
    {
        var tok = CharTokenizer.FromTexts(Names);
        var corpus = new NamesCorpus(Names, tok, seed: 1);
        var stream = NaiveStream(corpus.TrainTexts, tok);
        var (x, y) = corpus.Batch(4, 6, new Generator(2));
        Assert.Equal([4, 6], x.Shape);
        Assert.Equal([4, 6], y.Shape);
        var xs = x.ToArray<long>();
        var ys = y.ToArray<long>();
        for (int b = 0; b < 4; b++)
        {
            var window = xs.Skip(b * 6).Take(6).Append(ys[b * 6 + 5]).ToArray();
            Assert.Equal(xs.Skip(b * 6 + 1).Take(5), ys.Skip(b * 6).Take(5));
            bool found = Enumerable.Range(0, stream.Length - 6).Any(s => stream.Skip(s).Take(7).SequenceEqual(window));
            Assert.True(found, $"row {b} is not a window of the training stream");
        }
    }

    [Fact]
    public void NamesCorpus_ValidationWindowsTileTheValidationStream()
    {
        var tok = CharTokenizer.FromTexts(Names);
        var corpus = new NamesCorpus(Names, tok, validationFraction: 0.3, seed: 1);
        var stream = NaiveStream(corpus.ValidationTexts, tok);
        var windows = corpus.ValidationWindows(2, 5).ToList();
        var inputs = windows.SelectMany(w => w.Inputs.ToArray<long>()).ToArray();
        var targets = windows.SelectMany(w => w.Targets.ToArray<long>()).ToArray();
        int count = (stream.Length - 1) / 5;
        Assert.Equal(stream.Take(count * 5), inputs);
        Assert.Equal(stream.Skip(1).Take(count * 5), targets);
    }

    [Fact]
    public void NamesCorpus_BatchesReachEveryWindowStartIncludingTheLast()
    {
        // Training stream [0, a, b, 0]: windows of 2 can start at 0 or 1 (inputs [a, b], targets [b, 0]).
        var corpus = new NamesCorpus(["ab", "cd"], CharTokenizer.FromTexts(["ab", "cd"]), 0.5, seed: 0);
        var tok = corpus.Tokenizer;
        var stream = NaiveStream(corpus.TrainTexts, tok);
        Assert.Equal(4, stream.Length);
        var firstInputs = corpus.Batch(200, 2, new Generator(1)).Inputs.Select(1, 0).ToArray<long>();
        Assert.Contains(stream[0], firstInputs);
        Assert.Contains(stream[1], firstInputs);
    }

    [Fact]
    public void UnigramBaseline_EqualsTheNaiveAddOneSmoothedCrossEntropy()
    {
        var tok = CharTokenizer.FromTexts(Names);
        var corpus = new NamesCorpus(Names, tok, validationFraction: 0.25, seed: 5);
        var train = NaiveStream(corpus.TrainTexts, tok);
        var val = NaiveStream(corpus.ValidationTexts, tok);
        double total = train.Length + tok.VocabSize;
        double expected = val.Skip(1).Average(id => -Math.Log((train.Count(t => t == id) + 1) / total));
        Assert.Equal(expected, corpus.UnigramBaseline(), 12);
    }

    [Fact]
    public void NamesCorpus_RejectsAWindowLongerThanTheStream()
    {
        var corpus = new NamesCorpus(["ab", "cd"], CharTokenizer.FromTexts(["ab", "cd"]), 0.5);
        var e = Assert.Throws<ArgumentException>(() => corpus.Batch(1, 10, new Generator(1)));
        Assert.Contains("window of 11 tokens", e.Message);
    }
}
