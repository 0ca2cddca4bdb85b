using System.Text.Json.Nodes;
using Engine.Peft.Selective;
using Engine.Peft.Tests.Laws;
using Xunit;
using static Engine.Peft.Tests.TestSupport;

namespace Engine.Peft.Tests.Selective;

/// <summary>The property that defines trainable tokens, and its refusals.</summary>
public class TrainableTokensTests
{
    static readonly int[] Listed = [1, 5, 9];

    [Fact]
    public void Training_ChangesOnlyTheListedRows_OfTheEmbeddingAndTheTiedHead()
    {
        var model = LawCases.Base();
        var baseTable = model.Tok.Weight.Detach().Clone();
        var peft = Peft.Apply(model, new TrainableTokensConfig { TokenIndices = Listed, Seed = 5 });
        var layer = (TrainableTokensLayer)peft.AdapterLayers().Single().Layer;
        var ids = LawCases.Ids();
        var (input, target) = (ids.Narrow(1, 0, 4), ids.Narrow(1, 1, 4));
        new Trainer(peft, new AdamW(peft.TrainableParameters(), 1e-1), new TrainerOptions(5))
            .Run(_ => Losses.CrossEntropy(peft.Forward(input), target));

        // The table the lookups and the tied head use, against the base table row by row, bit for bit.
        var table = layer.Table.Detach().ToDoubleArray();
        var original = baseTable.ToDoubleArray();
        int rows = baseTable.Size(0), dim = baseTable.Size(1);
        for (int r = 0; r < rows; r++)
        {
            var now = table.AsSpan(r * dim, dim);
            var was = original.AsSpan(r * dim, dim);
            if (Listed.Contains(r)) Assert.False(now.SequenceEqual(was), $"row {r} is listed but did not change");
            else Assert.True(now.SequenceEqual(was), $"row {r} is not listed but changed");
        }
        Assert.Equal(original, model.Tok.Weight.ToDoubleArray());

        // The tied head uses the same rows: the logits are x E'^T, computed here naively from the final hidden state.
        using var _ = Autograd.Autograd.NoGrad();
        var hidden = model.LnF.Forward(HiddenBeforeNorm(model, layer, input));
        var logits = peft.Forward(input).ToDoubleArray();
        var h = hidden.ToDoubleArray();
        int positions = h.Length / dim;
        double worst = 0;
        for (int p = 0; p < positions; p++)
            for (int v = 0; v < rows; v++)
            {
                double s = 0;
                for (int k = 0; k < dim; k++) s += h[p * dim + k] * table[v * dim + k];
                worst = Math.Max(worst, Math.Abs(s - logits[p * rows + v]));
            }
        Assert.True(worst < 1e-4, $"the head does not use the trained rows (max difference {worst})");
    }

    // The residual stream after the blocks, from the adapted embedding (the model's own forward up to ln_f).
    static Tensor HiddenBeforeNorm(Gpt model, TrainableTokensLayer layer, Tensor ids)
    {
        var x = layer.Forward(ids) + model.Pos!.Forward(Tensor.Arange(0, ids.Size(1)));
        foreach (var block in model.Blocks.Items) x = block.Forward(x);
        return x;
    }

    [Fact]
    public void OverlappingAdapters_RefuseToRunOrMergeTogether()
    {
        var peft = Peft.Apply(LawCases.Base(), new TrainableTokensConfig { TokenIndices = [1, 5], InitWeights = false, Seed = 5 }, "a");
        peft.AddAdapter("b", new TrainableTokensConfig { TokenIndices = [5, 9], InitWeights = false, Seed = 6 });
        peft.AddAdapter("c", new TrainableTokensConfig { TokenIndices = [2, 3], InitWeights = false, Seed = 7 });
        peft.SetAdapter("a", "b");
        Assert.Contains("disjoint", Assert.Throws<NotSupportedException>(() => peft.Forward(LawCases.Ids())).Message);
        peft.SetAdapter("a");
        peft.Merge("a");
        Assert.Contains("disjoint", Assert.Throws<NotSupportedException>(() => peft.Merge("b")).Message);

        // Disjoint ones merge together and unmerge back to the base bit for bit.
        var before = LawCases.Bits(LawCases.Base());
        peft.SetAdapter("a", "c");
        var both = LawCases.Outputs(peft);
        peft.Merge("c");
        Assert.Equal(both.Length, LawCases.Outputs(peft).Length);
        Assert.True(LawCases.MaxDifference(both, LawCases.Outputs(peft)) < 1e-5);
        peft.Unmerge();
        peft.DeleteAdapter("a");
        peft.DeleteAdapter("b");
        peft.DeleteAdapter("c");
        LawCases.AssertBitIdentical(before, LawCases.Bits(peft.Model), "base after merging, unmerging and deleting");
    }

    [Fact]
    public void TokenOutsideTheVocabulary_IsRefusedNamingIt()
    {
        var e = Assert.Throws<ArgumentException>(() => Peft.Apply(LawCases.Base(), new TrainableTokensConfig { TokenIndices = [2, 13] }));
        Assert.Contains("13", e.Message);
        Assert.Throws<ArgumentException>(() => Peft.Apply(LawCases.Base(), new TrainableTokensConfig { TokenIndices = [2, 2] }));
    }

    [Fact]
    public void LoraFileWithTrainableTokenIndices_IsRefusedNamingTheField()
    {
        var folder = TempFolder();
        try
        {
            var source = Path.Combine(AppContext.BaseDirectory, "golden", "gpt2-tiny-lora");
            foreach (var file in Directory.GetFiles(source)) File.Copy(file, Path.Combine(folder, Path.GetFileName(file)));
            var configPath = Path.Combine(folder, "adapter_config.json");
            var json = JsonNode.Parse(File.ReadAllText(configPath))!.AsObject();
            json["trainable_token_indices"] = new JsonArray(3, 7);
            File.WriteAllText(configPath, json.ToJsonString());
            var e = Assert.Throws<NotSupportedException>(() => Peft.FromPretrained(Gpt2Checkpoint.Load(Gpt2Folder), folder));
            Assert.Contains("trainable_token_indices", e.Message);
        }
        finally { Directory.Delete(folder, recursive: true); }
    }
}
