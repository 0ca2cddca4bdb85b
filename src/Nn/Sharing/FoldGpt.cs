namespace Engine.Nn;

/// <summary>
/// FoldGPT (structure-and-optimizers.md 1.4; paper only, details inferred): depth pruning of a trained decoder in three
/// steps. (1) Each block gets a learnable scalar gate on both of its residual branches (<see cref="AddGates"/>):
/// h ← h + g_l·Attn_l(LN1(h)); h ← h + g_l·MLP_l(LN2(h)) — one gate per block applied to both sublayers, so g_l = 0
/// removes the block exactly and the MLP sees the gated attention output, as in a block whose whole increment is scaled
/// only at g ∈ {0, 1}. The gates train jointly with a polarising sparsity penalty (<see cref="GatePenalty"/>) that
/// pushes them towards 0 or a common value. (2) <see cref="Prune"/> removes the lowest-gated blocks up to the removal
/// rate, folding each kept gate into its block's output projections. (3) <see cref="ShareGroups"/> ties consecutive
/// kept blocks (shared weights, private LayerNorms: <see cref="LayerTying"/> with tieNorms false), and the "cure"
/// fine-tune matches the dense teacher (<see cref="FoldGptDistillation"/>). The paper's FLOPs constraint is not
/// modelled: the removal rate fixes the depth instead.
/// </summary>
public static class FoldGpt
{
    /// <summary>
    /// Wraps the token mixer and the MLP of every block of <paramref name="model"/> in a <see cref="GatedSublayer"/>
    /// sharing one gate per block, initialised to <paramref name="initialGate"/> (1: the base model). Returns the gates
    /// by block (read again through <see cref="Gates"/> after a dtype or device change).
    /// </summary>
    /// <exception cref="InvalidOperationException">The model already has gates.</exception>
    public static IReadOnlyList<Tensor> AddGates(Gpt model, double initialGate = 1.0)
    {
        if (Gates(model).Count > 0) throw new InvalidOperationException("FoldGpt.AddGates: the model already has gates");
        var gates = new List<Tensor>();
        foreach (var block in model.Blocks.Items)
        {
            var first = block.Parameters().First();
            var gate = Tensor.Full([1], initialGate, first.DType, first.Device);
            block.ReplaceModule(block.MixerName, new GatedSublayer(block.Mixer, gate));
            block.ReplaceModule("mlp", new GatedSublayer(ChildOf(block, "mlp"), gate));
            gates.Add(gate);
        }
        return gates;
    }

    /// <summary>The gate of each block (empty when the model has none).</summary>
    public static IReadOnlyList<Tensor> Gates(Gpt model) =>
        model.Blocks.Items.Select(b => ChildOf(b, b.MixerName)).OfType<GatedSublayer>().Select(g => g.Gate).ToList();

    /// <summary>
    /// The polarisation regulariser of Zhuang et al. (2020, "Neuron-level structured pruning using polarization
    /// regularizer"), on the block gates: λ·(t·Σ_l |g_l| − Σ_l |g_l − ḡ|) with ḡ the mean gate. The L1 term drives gates
    /// to 0; the second term rewards spreading them away from their mean, so they split into a group near 0 and a group
    /// that stays large, and the ranking in <see cref="Prune"/> has a clear gap. A scalar to add to the loss, or to
    /// <see cref="AuxiliaryLosses"/> as <c>AuxiliaryLosses.Add("foldgpt_gates", FoldGpt.GatePenalty(model))</c>.
    /// </summary>
    /// <exception cref="InvalidOperationException">The model has no gates.</exception>
    public static Tensor GatePenalty(Gpt model, double lambda = 1e-2, double t = 1.2)
    {
        var gates = Gates(model);
        if (gates.Count == 0) throw new InvalidOperationException("FoldGpt.GatePenalty: the model has no gates (call AddGates)");
        var g = Tensor.Concat(gates.ToArray(), 0);
        var l1 = g.Abs().Sum();
        var spread = (g - g.Mean()).Abs().Sum();
        return (l1 * t - spread) * lambda;
    }

    /// <summary>
    /// The blocks kept when the ⌊rate·L⌋ blocks of smallest |g| are removed (ties: the later block goes first), ascending.
    /// </summary>
    public static int[] KeptBlocks(IReadOnlyList<double> gates, double removalRate)
    {
        if (removalRate < 0 || removalRate >= 1) throw new ArgumentException($"FoldGpt: the removal rate must be in [0, 1), got {removalRate}");
        int remove = (int)Math.Floor(removalRate * gates.Count);
        var removed = gates.Select((g, i) => (G: Math.Abs(g), I: i)).OrderBy(p => p.G).ThenByDescending(p => p.I).Take(remove).Select(p => p.I).ToHashSet();
        return Enumerable.Range(0, gates.Count).Where(i => !removed.Contains(i)).ToArray();
    }

    /// <summary>
    /// A new plain <see cref="Gpt"/> with the lowest-gated blocks of the gated <paramref name="model"/> removed up to
    /// <paramref name="removalRate"/> (<see cref="KeptBlocks"/>) and each kept block's gate folded into its output
    /// projections (g·(W x + b) = (g W) x + g b on attention <c>proj</c> and MLP <c>proj</c>), so it computes what the
    /// gated model computes with the removed gates set to 0. Embeddings, final norm and head are copied.
    /// </summary>
    /// <exception cref="InvalidOperationException">The model has no gates, or a block's mixer is not attention.</exception>
    public static Gpt Prune(Gpt model, double removalRate)
    {
        var gates = Gates(model);
        if (gates.Count == 0) throw new InvalidOperationException("FoldGpt.Prune: the model has no gates (call AddGates)");
        var values = gates.Select(g => g.ToDoubleArray()[0]).ToArray();
        var kept = KeptBlocks(values, removalRate);
        var config = model.Config with
        {
            Layers = kept.Length,
            Mixers = model.Config.Mixers is null ? null : kept.Select(i => TokenMixers.Resolve(model.Config)[i]).ToArray(),
        };
        Gpt pruned;
        using (Init.Skip()) pruned = new Gpt(config);
        var like = model.Parameters().First();
        pruned.To(like.DType).To(like.Device);
        pruned.Train(model.Training);

        using (Autograd.Autograd.NoGrad())
        {
            Copy(model.Tok, pruned.Tok, 1);
            if (model.Pos is not null) Copy(model.Pos, pruned.Pos!, 1);
            Copy(model.LnF, pruned.LnF, 1);
            if (model.Head is not null) Copy(model.Head, pruned.Head!, 1);
            for (int i = 0; i < kept.Length; i++)
            {
                var (from, to) = (model.Blocks[kept[i]], pruned.Blocks[i]);
                if (from.MixerName != TokenMixers.AttentionSlot)
                    throw new InvalidOperationException($"FoldGpt.Prune: block {kept[i]} mixes tokens with '{from.MixerName}'; gates fold only into attention blocks");
                double g = values[kept[i]];
                Copy(from.Ln1, to.Ln1, 1);
                Copy(from.Ln2, to.Ln2, 1);
                Copy(from.Attn.Qkv, to.Attn.Qkv, 1);
                Copy(from.Attn.Proj, to.Attn.Proj, g);
                Copy(from.Mlp.Fc, to.Mlp.Fc, 1);
                Copy(from.Mlp.Proj, to.Mlp.Proj, g);
            }
        }
        return pruned;
    }

    /// <summary>
    /// Group parameter sharing: the blocks of <paramref name="model"/> in consecutive groups of
    /// <paramref name="groupSize"/> (the last group may be shorter) share one set of weights, each block keeping its own
    /// LayerNorms (<see cref="LayerTying.Tie"/>, tieNorms false). The shared weights start as the group's mean
    /// (<paramref name="init"/>). Returns the block-to-group map.
    /// </summary>
    public static int[] ShareGroups(Gpt model, int groupSize, TiedInit init = TiedInit.Average)
    {
        if (groupSize < 1) throw new ArgumentException($"FoldGpt.ShareGroups: the group size must be at least 1, got {groupSize}");
        var blockOf = Enumerable.Range(0, model.Blocks.Count).Select(i => i / groupSize).ToArray();
        LayerTying.Tie(model.Blocks, blockOf, init, tieNorms: false);
        return blockOf;
    }

    static Module ChildOf(Module parent, string name) => parent.Children().First(c => c.Name == name).Module;

    // Copies every parameter of one layer into the same layer of the pruned model, the weight and bias scaled by factor.
    static void Copy(Module from, Module to, double factor)
    {
        var source = from.NamedParameters().ToList();
        var target = to.NamedParameters().ToList();
        if (!source.Select(p => p.Name).SequenceEqual(target.Select(p => p.Name)))
            throw new InvalidOperationException($"FoldGpt.Prune: {from.GetType().Name} has parameters [{string.Join(", ", source.Select(p => p.Name))}], the pruned model's [{string.Join(", ", target.Select(p => p.Name))}] (adapters must be merged first)");
        for (int i = 0; i < source.Count; i++)
            target[i].Parameter.CopyFrom(factor == 1 ? source[i].Parameter.Detach() : source[i].Parameter.Detach() * factor);
    }
}
