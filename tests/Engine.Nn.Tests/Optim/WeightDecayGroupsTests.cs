using Xunit;

namespace Engine.Nn.Tests.Optim;

/// <summary>
/// The weight-decay mask (no decay on norms, biases, embeddings; structure-and-optimizers.md §3.1) and Muon's split
/// of a GPT into hidden matrices and the rest, checked against the names of the GPT's tensors.
/// </summary>
public class WeightDecayGroupsTests
{
    static HashSet<string> NamesOf(Module model, IEnumerable<Tensor> tensors)
    {
        var set = new HashSet<Tensor>(tensors, ReferenceEqualityComparer.Instance);
        return model.NamedParameters().Where(p => set.Contains(p.Parameter)).Select(p => p.Name).ToHashSet();
    }

    [Fact]
    public void Build_DecaysTheLinearWeights_NotNormsBiasesOrPositionEmbeddings()
    {
        var model = new Gpt(new GptConfig(VocabSize: 7, ContextLength: 4, DModel: 8, Layers: 1, Heads: 2, TiedHead: false), new Generator(1));
        var groups = WeightDecayGroups.Build(model, 0.01, 0.1);
        Assert.Equal([0.1, 0.0], groups.Select(g => g.WeightDecay));
        var decayed = NamesOf(model, groups[0].Parameters);
        var expected = model.NamedParameters().Where(p => p.Name.EndsWith(".weight") && p.Parameter.Rank == 2 && !p.Name.StartsWith("tok") && !p.Name.StartsWith("pos")).Select(p => p.Name).ToHashSet();
        Assert.Equal(expected, decayed);
        Assert.Contains("head.weight", decayed);
        Assert.Equal(model.Parameters().Count(), groups.Sum(g => g.Parameters.Count));
    }

    [Fact]
    public void Build_DecaysATiedEmbeddingOnlyOnceItIsShownAsTheHead()
    {
        var model = new Gpt(new GptConfig(VocabSize: 7, ContextLength: 4, DModel: 8, Layers: 1, Heads: 2, TiedHead: true), new Generator(1));
        Assert.Contains(WeightDecayGroups.Build(model, 0.01, 0.1)[1].Parameters, p => ReferenceEquals(p, model.Tok.Weight));
        model.ShowTiedHead();
        var groups = WeightDecayGroups.Build(model, 0.01, 0.1);
        Assert.Contains(groups[0].Parameters, p => ReferenceEquals(p, model.Tok.Weight));
        Assert.Equal(model.Parameters().Count(), groups.Sum(g => g.Parameters.Count));
    }

    [Fact]
    public void MuonGroups_OrthogonaliseOnlyTheHiddenMatrices()
    {
        var model = new Gpt(new GptConfig(VocabSize: 7, ContextLength: 4, DModel: 8, Layers: 2, Heads: 2, TiedHead: false), new Generator(1));
        var (matrix, adam) = Muon.Groups(model, 0.02, 0.004, 0.1);
        var hidden = NamesOf(model, matrix.SelectMany(g => g.Parameters));
        Assert.Equal(model.NamedParameters().Where(p => p.Name.StartsWith("blocks.") && p.Parameter.Rank == 2).Select(p => p.Name).ToHashSet(), hidden);
        Assert.Contains("head.weight", NamesOf(model, adam[0].Parameters));
        Assert.Equal([0.004, 0.004], adam.Select(g => g.Lr));
        Assert.Equal(model.Parameters().Count(), matrix.Concat(adam).Sum(g => g.Parameters.Count));
    }
}
