using System.Text.RegularExpressions;

namespace Engine.Nn;

/// <summary>
/// Sparse upcycling (Komatsuzaki et al. 2023; spec structure-and-optimizers.md 2.2): a trained dense <see cref="Gpt"/>
/// becomes a mixture-of-experts GPT whose every expert starts as a copy of its layer's dense FFN and whose routers are
/// fresh; all other parameters are copied. With renormalised top-k and no capacity the upcycled model computes exactly
/// the dense function whatever the routers say (spec 2.1's upcycling identity), so training continues from the dense
/// model's loss; Switch-style raw weights or a capacity make it start below the dense output instead.
/// <code>
/// var moe = SparseUpcycling.Upcycle(dense, new MoeOptions(Experts: 4, TopK: 2), new Generator(1));
/// </code>
/// </summary>
public static partial class SparseUpcycling
{
    /// <summary>The upcycled copy of <paramref name="dense"/>; <paramref name="generator"/> draws the routers.</summary>
    /// <exception cref="ArgumentException">The model is already a mixture of experts, the options ask for a shared expert, or a parameter is missing (an adapter is wrapped in).</exception>
    public static Gpt Upcycle(Gpt dense, MoeOptions options, Generator? generator = null) =>
        FromFeedForwardCopies(dense, Enumerable.Repeat(dense, options.Experts).ToList(), options, generator);

    /// <summary>
    /// A mixture-of-experts GPT whose expert e in every layer is the FFN of <paramref name="copies"/>[e] and whose other
    /// parameters are <paramref name="shared"/>'s: CLIP-MoE's assembly of the FFN sets learned by its stages of
    /// FFN-only fine-tuning (Diversified Multiplet Upcycling, spec 2.3; <c>clipmoe/model_clipmoe.py</c>), and BTX's
    /// FFN experts. The copies are dense GPTs of <paramref name="shared"/>'s shape (<see cref="TrainOnlyFeedForwards"/>
    /// prepares one stage). CLIP-MoE puts experts in its last blocks only; here every block gets them.
    /// </summary>
    /// <exception cref="ArgumentException">The counts or shapes differ, a model is a mixture of experts already, or a shared expert is asked for.</exception>
    public static Gpt FromFeedForwardCopies(Gpt shared, IReadOnlyList<Gpt> copies, MoeOptions options, Generator? generator = null)
    {
        if (shared.Config.Moe is not null || copies.Any(c => c.Config.Moe is not null))
            throw new ArgumentException("SparseUpcycling: the model is a mixture of experts already");
        if (options.SharedExpert) throw new ArgumentException("SparseUpcycling: a shared expert has no dense source; upcycle without one");
        if (copies.Count != options.Experts)
            throw new ArgumentException($"SparseUpcycling: {copies.Count} FFN copies for {options.Experts} experts");
        if (copies.Any(c => c.Config with { Mixers = null } != shared.Config with { Mixers = null }))
            throw new ArgumentException("SparseUpcycling: every FFN copy must have the shared model's GptConfig");
        var moe = new Gpt(shared.Config with { Moe = options }, generator);
        var source = shared.StateDict();
        var experts = copies.Select(c => ReferenceEquals(c, shared) ? source : c.StateDict()).ToArray();
        var state = new Dictionary<string, Tensor>();
        foreach (var (name, fresh) in moe.StateDict())
        {
            if (name.Contains($".{TransformerBlock.MoeSlot}.router.")) { state[name] = fresh; continue; }
            var match = ExpertName().Match(name);
            var from = match.Success ? ExpertName().Replace(name, $"${{block}}.{TransformerBlock.MlpSlot}.") : name;
            var table = match.Success ? experts[int.Parse(match.Groups["e"].Value)] : source;
            if (!table.TryGetValue(from, out var value))
                throw new ArgumentException($"SparseUpcycling: the dense model has no '{from}' for '{name}'; merge or remove adapters first");
            state[name] = value.Detach().Clone();
        }
        moe.LoadStateDict(state);
        moe.Train(shared.Training);
        return moe;
    }

    /// <summary>
    /// Freezes everything of <paramref name="dense"/> but its blocks' FFNs (<c>blocks.{i}.mlp.*</c>): one stage of
    /// CLIP-MoE's multistage fine-tuning, where all non-FFN weights stay shared and frozen (spec 2.3).
    /// </summary>
    public static void TrainOnlyFeedForwards(Gpt dense)
    {
        foreach (var (name, p) in dense.NamedParameters())
            p.RequiresGrad = name.Contains($".{TransformerBlock.MlpSlot}.");
    }

    // blocks.{i}.moe.experts.{e}. → blocks.{i}.mlp.
    [GeneratedRegex(@"(?<block>blocks\.\d+)\.moe\.experts\.(?<e>\d+)\.")]
    private static partial Regex ExpertName();
}
