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
    public static Gpt Upcycle(Gpt dense, MoeOptions options, Generator? generator = null)
    {
        if (dense.Config.Moe is not null) throw new ArgumentException("SparseUpcycling.Upcycle: the model is a mixture of experts already");
        if (options.SharedExpert) throw new ArgumentException("SparseUpcycling.Upcycle: a shared expert has no dense source; upcycle without one");
        var moe = new Gpt(dense.Config with { Moe = options }, generator);
        var source = dense.StateDict();
        var state = new Dictionary<string, Tensor>();
        foreach (var (name, fresh) in moe.StateDict())
        {
            if (name.Contains($".{TransformerBlock.MoeSlot}.router.")) { state[name] = fresh; continue; }
            var from = ExpertName().Replace(name, $"${{block}}.{TransformerBlock.MlpSlot}.");
            if (!source.TryGetValue(from, out var value))
                throw new ArgumentException($"SparseUpcycling.Upcycle: the dense model has no '{from}' for '{name}'; merge or remove adapters first");
            state[name] = value.Detach().Clone();
        }
        moe.LoadStateDict(state);
        moe.Train(dense.Training);
        return moe;
    }

    // blocks.{i}.moe.experts.{e}. → blocks.{i}.mlp.
    [GeneratedRegex(@"(?<block>blocks\.\d+)\.moe\.experts\.\d+\.")]
    private static partial Regex ExpertName();
}
