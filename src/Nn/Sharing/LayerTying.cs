namespace Engine.Nn;

/// <summary>
/// Which unique block each depth of a layer-tied (recursive) transformer uses. Names and maps as the
/// Mixture-of-Recursions code's sharing strategies (<c>model/sharing_strategy/llama.py</c>, spec
/// structure-and-optimizers.md 1.1), with L layers, N_r recursions and B = L / N_r unique blocks.
/// </summary>
public enum TyingPattern
{
    /// <summary>(1..B)(1..B)…: layer i + r·B uses block i (Relaxed Recursive Transformers' CYCLE).</summary>
    Cycle,

    /// <summary>(1,1,1)(2,2,2)…: layers i·N_r … (i+1)·N_r − 1 use block i.</summary>
    Sequence,

    /// <summary>Cycle over layers 1 … L−2 with B = (L − 2) / N_r; the first and the last layer stay unique (MoR's best).</summary>
    MiddleCycle,

    /// <summary>Sequence over layers 1 … L−2; the first and the last layer stay unique.</summary>
    MiddleSequence,
}

/// <summary>How the shared blocks get their values from a trained dense model (spec 1.1; the MoR code's init strategies).</summary>
public enum TiedInit
{
    /// <summary>Block i takes layer round(i·(L−1)/(B−1)): evenly spread layers (<c>stepwise</c>).</summary>
    Stepwise,

    /// <summary>Block i takes layer i (the first B layers).</summary>
    Lower,

    /// <summary>Block i takes layer L − B + i (the last B layers).</summary>
    Upper,

    /// <summary>Each shared tensor is the mean of the layers that use it (Relaxed Recursive Transformers' default).</summary>
    Average,

    /// <summary>Block i takes a layer drawn at random without replacement, in increasing order.</summary>
    Random,
}

/// <summary>
/// Layer tying (Lan et al. 2020 ALBERT; Dehghani et al. 2019; Bae et al. 2024 Relaxed Recursive Transformers): the
/// blocks of a transformer that share one unique block hold the same parameter tensors (<see cref="Module.TieParameter"/>),
/// so each depth keeps its own module tree (a per-depth adapter can wrap each depth's Linear) while the weights exist
/// once, train with the summed gradient of every use and are stored once in checkpoints. LayerNorms are tied too
/// unless <c>tieNorms</c> is false (WideNet's and FoldGPT's private norms per depth).
/// <code>
/// var map = LayerTying.BlockOf(TyingPattern.Cycle, layers: 6, recursions: 3); // [0, 1, 0, 1, 0, 1]
/// LayerTying.Tie(gpt.Blocks, map, TiedInit.Average);
/// </code>
/// </summary>
public static class LayerTying
{
    /// <summary>The unique block of each of <paramref name="layers"/> layers under <paramref name="pattern"/> with <paramref name="recursions"/> loops.</summary>
    /// <exception cref="ArgumentException">The layers (less the first and last for the middle patterns) are not a multiple of the recursions.</exception>
    public static int[] BlockOf(TyingPattern pattern, int layers, int recursions)
    {
        if (recursions < 1) throw new ArgumentException($"LayerTying: recursions must be at least 1, got {recursions}");
        bool middle = pattern is TyingPattern.MiddleCycle or TyingPattern.MiddleSequence;
        int tied = middle ? layers - 2 : layers;
        if (tied < recursions || tied % recursions != 0)
            throw new ArgumentException($"LayerTying: {pattern} needs the {(middle ? "middle " : "")}layers ({tied}) to be a positive multiple of the recursions ({recursions})");
        int unique = tied / recursions;
        var map = new int[layers];
        for (int j = 0; j < tied; j++)
        {
            int block = pattern is TyingPattern.Cycle or TyingPattern.MiddleCycle ? j % unique : j / recursions;
            map[middle ? j + 1 : j] = middle ? block + 1 : block;
        }
        if (middle)
        {
            map[0] = 0;
            map[layers - 1] = unique + 1;
        }
        return map;
    }

    /// <summary>The number of distinct blocks in <paramref name="blockOf"/> (unique blocks, plus the untied first and last).</summary>
    public static int UniqueBlocks(IReadOnlyList<int> blockOf) => blockOf.Distinct().Count();

    /// <summary>
    /// The dense layer each unique block is initialised from under <paramref name="init"/> (one per block; null for
    /// <see cref="TiedInit.Average"/>, which mixes every layer of the block). Blocks used by one layer only (the untied
    /// first and last) always take that layer.
    /// </summary>
    public static int[]? SourceLayers(IReadOnlyList<int> blockOf, TiedInit init, Generator? generator = null)
    {
        if (init == TiedInit.Average) return null;
        int blocks = UniqueBlocks(blockOf);
        var members = Members(blockOf);
        var shared = Enumerable.Range(0, blocks).Where(b => members[b].Count > 1).ToArray();
        var sources = new int[blocks];
        for (int b = 0; b < blocks; b++) sources[b] = members[b][0];
        // The tied blocks pick among the layers that are tied (the middle ones for the middle patterns).
        var candidates = blockOf.Select((b, l) => (b, l)).Where(p => members[p.b].Count > 1).Select(p => p.l).ToArray();
        int n = shared.Length, total = candidates.Length;
        int[] picked = init switch
        {
            TiedInit.Lower => candidates[..n],
            TiedInit.Upper => candidates[(total - n)..],
            TiedInit.Stepwise => Enumerable.Range(0, n).Select(i => candidates[n == 1 ? 0 : (int)Math.Round(i * (total - 1) / (double)(n - 1), MidpointRounding.ToEven)]).ToArray(),
            TiedInit.Random => RandomSubset(candidates, n, generator ?? new Generator(0)),
            _ => throw new ArgumentOutOfRangeException(nameof(init)),
        };
        for (int i = 0; i < n; i++) sources[shared[i]] = picked[i];
        return sources;
    }

    /// <summary>
    /// Ties <paramref name="blocks"/> by <paramref name="blockOf"/> in place: every block that shares a unique block is
    /// given the same tensors, holding the values <paramref name="init"/> chooses from the blocks' current (trained) values.
    /// The first layer of each unique block owns the tensors; the others alias them. Without <paramref name="tieNorms"/>
    /// each depth keeps its LayerNorms; without <paramref name="tieBiases"/> its biases (Relaxed Recursive Transformers:
    /// the per-depth LoRA can only carry the weights' residuals, so the O(d) biases stay per depth for an exact init).
    /// </summary>
    /// <exception cref="ArgumentException">The map does not have one entry per block, or the blocks differ in structure.</exception>
    public static void Tie<T>(ModuleList<T> blocks, IReadOnlyList<int> blockOf, TiedInit init, bool tieNorms = true, Generator? generator = null, bool tieBiases = true) where T : Module
    {
        if (blockOf.Count != blocks.Count)
            throw new ArgumentException($"LayerTying.Tie: the map has {blockOf.Count} entries for {blocks.Count} blocks");
        var named = Enumerable.Range(0, blocks.Count).Select(l => blocks[l].NamedParameters().ToList()).ToArray();
        for (int l = 1; l < named.Length; l++)
            if (!named[l].Select(p => (p.Name, Shapes.Format(p.Parameter.Shape))).SequenceEqual(named[0].Select(p => (p.Name, Shapes.Format(p.Parameter.Shape)))))
                throw new ArgumentException($"LayerTying.Tie: block {l} does not have the parameters of block 0; only blocks of one structure can be tied");
        var members = Members(blockOf);
        var sources = SourceLayers(blockOf, init, generator);
        using (Autograd.Autograd.NoGrad())
            foreach (var group in members.Where(m => m.Count > 1))
            {
                int owner = group[0];
                for (int i = 0; i < named[owner].Count; i++)
                {
                    var (name, target) = named[owner][i];
                    if (!tieNorms && IsNorm(blocks[owner], name)) continue;
                    if (!tieBiases && name.EndsWith(".bias") && !IsNorm(blocks[owner], name)) continue;
                    var value = sources is null
                        ? group.Select(l => named[l][i].Parameter.Detach()).Aggregate((a, b) => a + b) / group.Count
                        : named[sources[blockOf[owner]]][i].Parameter.Detach().Clone();
                    target.CopyFrom(value);
                    foreach (int l in group.Skip(1)) blocks[l].TieParameter(name, target);
                }
            }
        // Untied single-member blocks (middle patterns) keep their own values; with a source init they keep them too.
    }

    /// <summary>The layers of each unique block, in order.</summary>
    public static List<int>[] Members(IReadOnlyList<int> blockOf)
    {
        int blocks = blockOf.Count == 0 ? 0 : blockOf.Max() + 1;
        var members = Enumerable.Range(0, blocks).Select(_ => new List<int>()).ToArray();
        for (int l = 0; l < blockOf.Count; l++) members[blockOf[l]].Add(l);
        if (members.Any(m => m.Count == 0)) throw new ArgumentException($"LayerTying: the map [{string.Join(", ", blockOf)}] skips a block index");
        return members;
    }

    // A parameter of a LayerNorm (by module type, so renamed norms count too).
    static bool IsNorm(Module block, string parameterName)
    {
        int dot = parameterName.LastIndexOf('.');
        string path = dot < 0 ? "" : parameterName[..dot];
        return block.NamedModules().First(m => m.Name == path).Module is LayerNorm;
    }

    static int[] RandomSubset(int[] candidates, int n, Generator generator)
    {
        // Random keys, one per candidate, sorted: a uniform subset from the engine's generator.
        var keys = Tensor.Rand([candidates.Length], generator: generator).ToArray<float>();
        return candidates.Select((l, i) => (l, keys[i])).OrderBy(p => p.Item2).Take(n).Select(p => p.l).OrderBy(l => l).ToArray();
    }
}
