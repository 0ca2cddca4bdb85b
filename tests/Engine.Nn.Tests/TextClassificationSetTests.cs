using Xunit;

namespace Engine.Nn.Tests;

public class TextClassificationSetTests
{
    [Fact]
    public void Encode_GivesUtf8BytesThenPaddingWithItsMask()
    {
        var (ids, pad) = TextClassificationSet.Encode(["hé", "abcdef"], 4);
        Assert.Equal(new long[] { 'h', 0xC3, 0xA9, TextClassificationSet.PadId, 'a', 'b', 'c', 'd' }, ids.ToArray<long>());
        Assert.Equal(new[] { false, false, false, true, false, false, false, false }, pad.ToArray<bool>());
    }

    [Fact]
    public void Split_HoldsOutTheFractionAndLosesNothing()
    {
        var examples = Enumerable.Range(0, 50).Select(i => ($"text {i}", i % 2)).ToList();
        var set = new TextClassificationSet(examples, 0.2, 3);
        Assert.Equal(10, set.HeldOut.Count);
        Assert.Equal(examples.OrderBy(e => e.Item1), set.Train.Concat(set.HeldOut).OrderBy(e => e.Text));
    }

    [Fact]
    public void ReadJsonLines_NamesTheBadLine()
    {
        var e = Assert.Throws<InvalidDataException>(() => TextClassificationSet.ReadJsonLines(new StringReader("{\"label\": 1, \"body\": \"x\"}\n{\"body\": \"no label\"}"), "test.jsonl"));
        Assert.Contains("test.jsonl line 2", e.Message);
    }
}
