namespace Engine.Nn;

/// <summary>
/// WideNet, "Go Wider Instead of Deeper" (Xue et al. 2022; reference hpcaitech/Titans <c>titans/model/moe/widenet.py</c>),
/// spec structure-and-optimizers.md 1.3, as a GPT: one attention block and one mixture-of-experts feed-forward
/// (experts and router) shared by every layer, while each layer keeps its own two LayerNorms — the only per-layer
/// parameters. Built as a <see cref="Gpt"/> with <see cref="GptConfig.Moe"/> whose blocks are tied to block 0 by
/// <see cref="LayerTying.Tie"/> with <c>tieNorms: false</c>: each depth keeps its module tree (so per-depth LayerNorms and
/// per-depth routing statistics), the shared tensors exist once, train with the gradient summed over the L uses and
/// are stored once in training checkpoints. Each use adds its own balance loss, so the loss is summed over the uses.
/// The reference is a ViT (mean pool, zero-initialised classifier); here the same body drives a language model.
/// <code>
/// var model = WideNet.Create(new GptConfig(vocab, 64, 128, Layers: 6, Heads: 4), experts: 4, new Generator(1));
/// </code>
/// </summary>
public static class WideNet
{
    /// <summary>
    /// WideNet's router (spec 1.3): top-2, Gaussian noise on the logits in training with standard deviation 1/E²
    /// (ColossalAI's <c>NormalNoiseGenerator</c>, inferred from its default), capacity factor 1.25 in training and 2.0
    /// in evaluation, balance coefficient 0.01 (spec: inferred from GShard/Switch). The top-2 weights are the raw
    /// probabilities, not renormalised: our reading of the reference's Top2Router (weights = mask · softmax), marked
    /// inferred as the spec does not state it.
    /// </summary>
    public static MoeOptions RouterOptions(int experts) =>
        new(experts, TopK: 2, Renormalize: false, CapacityFactor: 1.25, EvalCapacityFactor: 2.0, RouterNoise: 1.0 / ((double)experts * experts));

    /// <summary>
    /// A WideNet GPT of <paramref name="config"/>'s shape with <paramref name="experts"/> experts (its <see cref="GptConfig.Moe"/>
    /// is replaced by <see cref="RouterOptions"/> unless <paramref name="router"/> is given): all layers share block 0's
    /// attention and mixture of experts, each keeps its LayerNorms.
    /// </summary>
    /// <exception cref="ArgumentException">The config has other token mixers than attention, or no layers.</exception>
    public static Gpt Create(GptConfig config, int experts, Generator? generator = null, MoeOptions? router = null)
    {
        if (config.Layers < 1) throw new ArgumentException($"WideNet.Create: needs at least one layer, got {config.Layers}");
        if (config.Mixers is { } mixers && mixers.Any(m => m != TokenMixers.Attention))
            throw new ArgumentException($"WideNet.Create: every layer shares one attention block; the config's mixers are [{string.Join(", ", mixers)}]");
        var model = new Gpt(config with { Moe = router ?? RouterOptions(experts) }, generator);
        LayerTying.Tie(model.Blocks, new int[config.Layers], TiedInit.Lower, tieNorms: false);
        return model;
    }
}
