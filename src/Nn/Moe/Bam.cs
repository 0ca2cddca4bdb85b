using System.Text.RegularExpressions;

namespace Engine.Nn;

/// <summary>
/// Branch-Attend-Mix (BAM; Zhang et al. 2024, arXiv 2408.08274; spec structure-and-optimizers.md 2.2 and
/// adapters-other.md 15; paper only, no reference code): the third phase, assembling N seed models (copies of one dense
/// model, each trained further on its own domain) into one mixture-of-experts model. Each layer's FFN experts are the
/// seeds' FFNs (top-k routing, <see cref="MoeFeedForward"/>), its attention experts are the seeds' attentions mixed by a
/// soft router (<see cref="AttentionExperts"/>; full, or sharing K and V), the routers are fresh, and every other
/// parameter (embeddings, norms, head) is the seeds' average. Blocks are parallel (x + MoA(ln(x)) + MoE(ln(x))), so the
/// seeds must be parallel-block GPTs (<see cref="GptConfig.ParallelBlocks"/>).
/// Inferred where the paper is silent: the shared K and V of the shared variant start as the seeds' average; the
/// routers keep their Linear initialisation; the FFN routing defaults to Mixtral's renormalised top-2.
/// </summary>
public static partial class Bam
{
    /// <summary>The BAM model of <paramref name="seeds"/>; <paramref name="ffn"/> sets the FFN routing (its Experts must be the seed count).</summary>
    /// <exception cref="ArgumentException">No seeds, seeds of different shapes, sequential or MoE seeds, non-attention mixers, or settings the shared variant cannot hold.</exception>
    public static Gpt Assemble(IReadOnlyList<Gpt> seeds, bool kvShared, MoeOptions? ffn = null, Generator? generator = null)
    {
        if (seeds.Count == 0) throw new ArgumentException("Bam.Assemble: needs at least one seed model");
        var c = seeds[0].Config;
        if (seeds.Any(s => !ConfigEquals(s.Config, c))) throw new ArgumentException("Bam.Assemble: the seeds must share one GptConfig (they are copies of one dense model)");
        if (!c.ParallelBlocks) throw new ArgumentException("Bam.Assemble: BAM mixes attention and FFN experts in parallel blocks; train the seeds with GptConfig.ParallelBlocks");
        if (c.Moe is not null) throw new ArgumentException("Bam.Assemble: the seeds must be dense");
        if (c.Mixers is { } mixers && mixers.Any(m => m != TokenMixers.Attention)) throw new ArgumentException("Bam.Assemble: every seed layer must be attention");
        if (kvShared && (c.Rotary || (c.KvHeads ?? c.Heads) != c.Heads))
            throw new ArgumentException($"Bam.Assemble: the K/V-shared variant needs learned positions and full heads; the seeds have Rotary={c.Rotary}, KvHeads={c.KvHeads}");
        var options = ffn ?? new MoeOptions(seeds.Count, TopK: Math.Min(2, seeds.Count));
        if (options.Experts != seeds.Count) throw new ArgumentException($"Bam.Assemble: {seeds.Count} seeds make {seeds.Count} FFN experts, the options ask for {options.Experts}");

        var model = new Gpt(c with { Moe = options }, generator);
        var attention = new AttentionOptions(c.DModel, c.Heads, c.KvHeads, Causal: true, Rotary: c.Rotary, Dropout: c.Dropout);
        foreach (var block in model.Blocks.Items)
            block.ReplaceModule(TokenMixers.AttentionSlot, kvShared
                ? AttentionExperts.SharedKeyValue(c.DModel, c.Heads, seeds.Count, generator)
                : AttentionExperts.Full(attention, seeds.Count, generator));

        var sources = seeds.Select(s => s.StateDict()).ToArray();
        var state = new Dictionary<string, Tensor>();
        using (Autograd.Autograd.NoGrad())
            foreach (var (name, fresh) in model.StateDict())
                state[name] = Source(name, fresh, sources, c.DModel);
        model.LoadStateDict(state);
        return model;
    }

    // Where each parameter of the assembled model comes from.
    static Tensor Source(string name, Tensor fresh, Dictionary<string, Tensor>[] seeds, int d)
    {
        if (name.Contains(".router.")) return fresh;
        if (ExpertFfn().Match(name) is { Success: true } f)
            return Take(seeds[int.Parse(f.Groups["e"].Value)], $"{f.Groups["block"].Value}.mlp.{f.Groups["rest"].Value}");
        if (FullAttention().Match(name) is { Success: true } a)
            return Take(seeds[int.Parse(a.Groups["e"].Value)], $"{a.Groups["block"].Value}.attn.{a.Groups["rest"].Value}");
        if (SharedAttention().Match(name) is { Success: true } s)
        {
            string block = s.Groups["block"].Value, part = s.Groups["part"].Value, tensor = s.Groups["tensor"].Value;
            // q.{i} is the query third of seed i's fused qkv; o.{i} its output projection.
            if (part == "q") return Take(seeds[int.Parse(s.Groups["e"].Value)], $"{block}.attn.qkv.{tensor}").Narrow(0, 0, d).Clone();
            return Take(seeds[int.Parse(s.Groups["e"].Value)], $"{block}.attn.proj.{tensor}");
        }
        if (SharedKv().Match(name) is { Success: true } kv)
            return Average(seeds.Select(sd => Take(sd, $"{kv.Groups["block"].Value}.attn.qkv.{kv.Groups["tensor"].Value}").Narrow(0, d, 2 * d)));
        return Average(seeds.Select(sd => Take(sd, name)));
    }

    static Tensor Take(Dictionary<string, Tensor> seed, string name) =>
        seed.TryGetValue(name, out var t) ? t.Detach() : throw new ArgumentException($"Bam.Assemble: a seed has no '{name}'; merge or remove adapters first");

    static Tensor Average(IEnumerable<Tensor> tensors)
    {
        var list = tensors.ToList();
        return (list.Aggregate((a, b) => a + b) / list.Count).Contiguous();
    }

    static bool ConfigEquals(GptConfig a, GptConfig b) =>
        a with { Mixers = null } == b with { Mixers = null } && (a.Mixers ?? []).SequenceEqual(b.Mixers ?? []);

    [GeneratedRegex(@"^(?<block>blocks\.\d+)\.moe\.experts\.(?<e>\d+)\.(?<rest>.+)$")]
    private static partial Regex ExpertFfn();

    [GeneratedRegex(@"^(?<block>blocks\.\d+)\.attn\.experts\.(?<e>\d+)\.(?<rest>.+)$")]
    private static partial Regex FullAttention();

    [GeneratedRegex(@"^(?<block>blocks\.\d+)\.attn\.(?<part>q|o)\.(?<e>\d+)\.(?<tensor>weight|bias)$")]
    private static partial Regex SharedAttention();

    [GeneratedRegex(@"^(?<block>blocks\.\d+)\.attn\.kv\.(?<tensor>weight|bias)$")]
    private static partial Regex SharedKv();
}
