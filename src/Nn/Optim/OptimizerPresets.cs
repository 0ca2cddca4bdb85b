namespace Engine.Nn;

/// <summary>
/// One optimiser by name, with its defaults, built over a model's parameters: what <c>engine train --optimizer</c>
/// offers. Learning rates and hyper-parameters are the tuned values of "Fantastic Pretraining Optimizers" for its
/// smallest model (130M, 1× Chinchilla; structure-and-optimizers.md §3.1 table) where the spec gives them, else
/// levanter's defaults; <see cref="OptimizerPreset.Source"/> says which. Weight decay follows
/// <see cref="WeightDecayGroups"/> (none on norms, biases, embeddings).
/// </summary>
public static class OptimizerPresets
{
    /// <summary>The names, in the order help texts list them.</summary>
    public static IReadOnlyList<string> Names => All.Select(p => p.Name).ToList();

    static readonly OptimizerPreset[] All =
    [
        new("adamw", 3e-3, 0.1, "the engine's names recipe (β2 0.99, λ 0.1), unchanged: the default job keeps its numbers",
            (m, lr, wd) => new AdamW(WeightDecayGroups.Build(m, lr, wd), beta2: 0.99)),
        new("nadamw", 1.6e-2, 0.1, "paper sweep centre at 130M: η 1.6e-2, β (0.95, 0.95), λ 0.1",
            (m, lr, wd) => new NAdamW(WeightDecayGroups.Build(m, lr, wd), 0.95, 0.95)),
        new("lion", 2e-3, 0.7, "paper tuned at 130M: η 2e-3, β (0.9, 0.95), λ 0.7",
            (m, lr, wd) => new Lion(WeightDecayGroups.Build(m, lr, wd), 0.9, 0.95)),
        new("mars", 8e-3, 0.1, "levanter defaults β (0.95, 0.99), γ 0.025, λ 0.1; the spec gives no tuned η, so AdamW's tuned 8e-3",
            (m, lr, wd) => new Mars(WeightDecayGroups.Build(m, lr, wd), 0.95, 0.99, 0.025)),
        new("cautious", 8e-3, 0.1, "Cautious AdamW, levanter β (0.95, 0.95), λ 0.1; the spec gives no tuned η, so AdamW's tuned 8e-3",
            (m, lr, wd) => new Cautious(new AdamW(WeightDecayGroups.Build(m, lr, wd), 0.95, 0.95))),
        new("adam-mini", 8e-3, 0.1, "levanter β (0.9, 0.95), λ 0.1; the spec gives no tuned η, so AdamW's tuned 8e-3",
            (m, lr, wd) => new AdamMini(WeightDecayGroups.Build(m, lr, wd), AdamMiniBlocks(m), 0.9, 0.95)),
        new("muon", 1.6e-2, 0.1, "paper tuned at 130M: η 1.6e-2, AdamW η 3.2e-3 (0.2 η), Adam β (0.8, 0.98), μ 0.95, λ 0.1",
            (m, lr, wd) => { var (matrix, adam) = Muon.Groups(m, lr, 0.2 * lr, wd); return new Muon(matrix, adam); }),
        new("scion", 1.6e-2, 0, "paper sweep centre at 130M: η 1.6e-2, μ 0.98, β1 0.95, Signum η ratio 0.2, λ 0, 10 NS steps",
            (m, lr, wd) => { var (matrix, sign) = Scion.Groups(m, lr, 0.2, wd); return new Scion(matrix, sign, 0.98, 0.95); }),
        new("soap", 1.6e-2, 0.1, "paper tuned at 130M: η 1.6e-2, β (0.95, 0.98), shampoo β 0.95, frequency 1, block 256, λ 0.1",
            (m, lr, wd) => new Soap(WeightDecayGroups.Build(m, lr, wd), 0.95, 0.98, 0.95, 1, 256)),
        new("kron", 2e-3, 0.7, "paper tuned at 130M: η 2e-3, β1 0.95, λ 0.7, precond η 0.2, p_min 0.05 after a 2000-step flat start, gradient normalisation on; levanter decay 0.001, init scale 1",
            (m, lr, wd) => new Kron(WeightDecayGroups.Build(m, lr, wd), 0.95, 0.2, 0.05, 2000)),
        new("sophia", 1e-3, 0.1, "Sophia-G, levanter BaseSophiaConfig β (0.96, 0.99), γ 0.05, ε 1e-12, clip 1, k 10, λ 0.1; the spec gives no tuned η (Phase I table only), so levanter's sophia_g default 1e-3",
            (m, lr, wd) => new SophiaG(WeightDecayGroups.Build(m, lr, wd), 0.96, 0.99, 0.05, 1e-12, 1.0, 10)),
    ];

    /// <summary>The preset of <paramref name="name"/> (case-insensitive).</summary>
    /// <exception cref="ArgumentException">An unknown name; the message lists the known ones.</exception>
    public static OptimizerPreset Get(string name) =>
        All.FirstOrDefault(p => string.Equals(p.Name, name, StringComparison.OrdinalIgnoreCase))
        ?? throw new ArgumentException($"unknown optimizer '{name}'; expected one of: {string.Join(", ", Names)}");

    /// <summary>Adam-mini's blocks for a model's fused attention projections (per head for Q and K); other matrices get one block per row.</summary>
    public static Dictionary<Tensor, int[]> AdamMiniBlocks(Module model)
    {
        var blocks = new Dictionary<Tensor, int[]>(ReferenceEqualityComparer.Instance);
        foreach (var attention in model.NamedModules().Select(m => m.Module).OfType<MultiHeadAttention>())
            blocks[attention.Qkv.Weight] = AdamMini.AttentionBlocks(attention.Options.Heads, attention.KvHeads, attention.HeadDim);
        return blocks;
    }
}

/// <summary>A named optimiser with its default learning rate and weight decay, and where they come from.</summary>
/// <param name="Name">The name `engine train --optimizer` takes.</param>
/// <param name="Lr">The default peak learning rate.</param>
/// <param name="WeightDecay">The default (decoupled) weight decay.</param>
/// <param name="Source">Where the defaults come from (paper or reference code).</param>
/// <param name="Build">Builds it over a model's parameters at a peak learning rate and weight decay.</param>
public sealed record OptimizerPreset(string Name, double Lr, double WeightDecay, string Source, Func<Module, double, double, Optimizer> Build)
{
    /// <summary>The optimiser over <paramref name="model"/>, at the default rate and decay unless given.</summary>
    public Optimizer Create(Module model, double? lr = null, double? weightDecay = null) => Build(model, lr ?? Lr, weightDecay ?? WeightDecay);
}
