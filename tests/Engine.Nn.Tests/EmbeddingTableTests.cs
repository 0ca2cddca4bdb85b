using Xunit;

namespace Engine.Nn.Tests;

/// <summary>
/// A wrapper of the token embedding that changes its table (<see cref="IEmbeddingTable"/>: PEFT's trainable tokens)
/// changes the tied head's table too; a plain wrapper leaves the head on the embedding's own weight.
/// </summary>
public class EmbeddingTableTests
{
    // Lookups read the wrapped weight with row 3 replaced by `row`; only TableWrapper tells the model so.
    class RowReplacing(Embedding wrapped, Tensor row) : Module, IModuleWrapper
    {
        public Module Wrapped => wrapped;
        public Tensor Table
        {
            get
            {
                var mask = Tensor.FromArray(Enumerable.Range(0, wrapped.Weight.Size(0)).Select(i => i == 3).ToArray()).Reshape(-1, 1);
                return Tensor.Where(mask, row.Reshape(1, -1), wrapped.Weight);
            }
        }
        public override Tensor Forward(Tensor ids) => Table.Embedding(ids);
    }

    sealed class TableWrapper(Embedding wrapped, Tensor row) : RowReplacing(wrapped, row), IEmbeddingTable;

    [Fact]
    public void TiedHead_UsesTheWrappersTable_OnlyWhenItExposesOne()
    {
        var gpt = (Gpt)new Gpt(new GptConfig(11, 8, 16, 2, 2, MlpRatio: 2), new Generator(1)).Eval();
        var row = Tensor.Randn([16], generator: new Generator(2));
        var ids = Tensor.FromArray(new long[,] { { 1, 2, 4, 5 } });
        var tok = gpt.Tok;

        gpt.ReplaceModule("tok", new RowReplacing(tok, row));
        var plain = gpt.Forward(ids);
        gpt.ReplaceModule("tok", new TableWrapper(tok, row));
        var tied = gpt.Forward(ids);

        // Row 3 is never looked up: the inputs are the same, and only the logit of token 3 moves, to x · row.
        var a = plain.ToDoubleArray();
        var b = tied.ToDoubleArray();
        for (int i = 0; i < a.Length; i++)
            if (i % 11 != 3) Assert.Equal(a[i], b[i], 5);
            else Assert.NotEqual(a[i], b[i], 3);
        var hidden = gpt.LnF.Forward(HiddenOf(gpt, ids));
        var expected = hidden.MatMul(row.Reshape(16, 1)).ToDoubleArray();
        for (int p = 0; p < 4; p++) Assert.Equal(expected[p], b[p * 11 + 3], 4);
    }

    static Tensor HiddenOf(Gpt gpt, Tensor ids)
    {
        var x = gpt.Tok.Forward(ids) + gpt.Pos!.Forward(Tensor.Arange(0, ids.Size(1)));
        foreach (var block in gpt.Blocks.Items) x = block.Forward(x);
        return x;
    }
}
