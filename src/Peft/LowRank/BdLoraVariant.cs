namespace Engine.Peft.LowRank;

/// <summary>
/// BD-LoRA (block-diagonal LoRA; PEFT's <c>BdLoraLinearVariant</c> and <c>BlockDiagonalLinear</c>): on a row-sharded
/// layer A is block-diagonal, on a column-sharded one B is, with n blocks, so each of n shards computes its part of
/// B A x without communication. The file holds the n blocks stacked: A [r, in / n] (block i maps input chunk i to
/// rank chunk i), B [out, r / n]; ΔW = s blockdiag(B) blockdiag(A). A block-diagonal A starts Kaiming-uniform
/// (PEFT: <c>kaiming_uniform_</c> with a = 0), a block-diagonal B at zero.
/// </summary>
public sealed class BdLoraVariant(BdLoraConfig config, ModulePath path) : ILoraVariant
{
    /// <summary>Which factor is block-diagonal here ('A', 'B', or none when match_strict is off and no pattern matches).</summary>
    public char? BlockFactor { get; } = Side(config, path);

    static char? Side(BdLoraConfig config, ModulePath path)
    {
        bool a = (config.TargetModulesBdA ?? []).Any(p => path.Names.Any(n => n.Contains(p, StringComparison.Ordinal)));
        bool b = (config.TargetModulesBdB ?? []).Any(p => path.Names.Any(n => n.Contains(p, StringComparison.Ordinal)));
        if (a && b) throw new ArgumentException($"BD-LoRA: '{path.External}' matches both the A and the B block-diagonal patterns");
        if (!a && !b && config.MatchStrict)
            throw new ArgumentException($"BD-LoRA: '{path.External}' matches neither target_modules_bd_a nor target_modules_bd_b (set match_strict=false to keep plain LoRA there)");
        return a ? 'A' : b ? 'B' : null;
    }

    /// <inheritdoc/>
    public (int[] A, int[] B) FactorShapes(LoraLayer layer, int r)
    {
        int n = config.Nblocks, inF = layer.InFeatures, outF = layer.OutFeatures;
        switch (BlockFactor)
        {
            case 'A':
                if (inF % n != 0 || r % n != 0) throw new ArgumentException($"BD-LoRA: in = {inF} and r = {r} of '{path.External}' must be divisible by nblocks = {n}");
                return ([r, inF / n], [outF, r]);
            case 'B':
                if (r % n != 0 || outF % n != 0) throw new ArgumentException($"BD-LoRA: r = {r} and out = {outF} of '{path.External}' must be divisible by nblocks = {n}");
                return ([r, inF], [outF, r / n]);
            default: return ([r, inF], [outF, r]);
        }
    }

    /// <inheritdoc/>
    public void Init(LoraLayer layer, string name, Generator generator)
    {
        using var _ = Autograd.Autograd.NoGrad();
        if (BlockFactor == 'A') Engine.Nn.Init.KaimingUniform(layer.LoraA(name), 0, generator: generator);
        else if (BlockFactor == 'B') Engine.Nn.Init.Zeros(layer.LoraB(name));
    }

    /// <summary>The dense [rows · n, cols · n] matrix with the n row blocks of <paramref name="blocks"/> on its diagonal (torch.block_diag of torch.chunk).</summary>
    public static Tensor BlockDiagonal(Tensor blocks, int n)
    {
        int rows = blocks.Size(0) / n, cols = blocks.Size(1);
        var rowBlocks = new Tensor[n];
        for (int i = 0; i < n; i++)
        {
            var parts = new List<Tensor>();
            if (i > 0) parts.Add(Tensor.Zeros([rows, i * cols], blocks.DType, blocks.Device));
            parts.Add(blocks.Narrow(0, i * rows, rows));
            if (i < n - 1) parts.Add(Tensor.Zeros([rows, (n - 1 - i) * cols], blocks.DType, blocks.Device));
            rowBlocks[i] = parts.Count == 1 ? parts[0] : Tensor.Concat(parts.ToArray(), 1);
        }
        return n == 1 ? blocks : Tensor.Concat(rowBlocks, 0);
    }

    (Tensor A, Tensor B) Dense(LoraLayer layer, string name) => BlockFactor switch
    {
        'A' => (BlockDiagonal(layer.LoraA(name), config.Nblocks), layer.LoraB(name)),
        'B' => (layer.LoraA(name), BlockDiagonal(layer.LoraB(name), config.Nblocks)),
        _ => (layer.LoraA(name), layer.LoraB(name)),
    };

    /// <inheritdoc/>
    public Tensor? DeltaWeight(LoraLayer layer, string name)
    {
        var (a, b) = Dense(layer, name);
        return b % a * layer.Settings(name).Scaling;
    }

    /// <inheritdoc/>
    public Tensor? Contribution(LoraLayer layer, string name, Tensor x)
    {
        if (BlockFactor is null) return null;
        var (a, b) = Dense(layer, name);
        var shape = x.Shape;
        int rows = shape[..^1].Aggregate(1, (p, q) => p * q);
        shape[^1] = b.Size(0);
        return x.Reshape(rows, x.Size(-1)).MatMul(a.T).MatMul(b.T).Reshape(shape) * layer.Settings(name).Scaling;
    }
}
