namespace Engine.Peft.Structured;

/// <summary>
/// A <see cref="Linear"/> with MiSS adapters (PEFT's <c>miss.MissLinear</c>), one tensor <c>miss_block</c> each:
/// <list type="bullet">
/// <item>balanced [r, out]: ΔW[:, c·r + k] = D[k, :]ᵀ for every input shard c, a last partial shard taking the first
/// in mod r rows; the forward adds (Σ_c x_c) D with x zero-padded to a multiple of r;</item>
/// <item>mini [r, mini_r]: the same with D's columns tiled, column j = D[:, j mod mini_r];</item>
/// <item>bat [out/r, r, r]: on the r × r blocks, W'_{a,c} = W_{a,c} + W_{a,c} D_a + D_a (a: output block); the
/// forward forms W', the unmerge is W = (W' − D)(I + D)⁻¹.</item>
/// </list>
/// Every form is a transform of the weight (<see cref="WeightTransformAdapterLayer"/>); while no bat adapter is active
/// the forward stays additive and never forms the weight. Each adapter keeps its own form (PEFT's layer takes the
/// form of its first adapter for all).
/// </summary>
public sealed class MissLayer : WeightTransformAdapterLayer
{
    /// <summary>Wraps <paramref name="baseLayer"/>.</summary>
    public MissLayer(Linear baseLayer) : base(baseLayer) { }

    sealed record Settings(MissInit Form, int R, int MiniR);

    /// <summary>D of adapter <paramref name="name"/> in its stored shape.</summary>
    public Tensor Block(string name) => Parameter("miss_block", name);

    /// <inheritdoc/>
    public override IEnumerable<PlannedTensor> PlanAdapter(AdapterContext context)
    {
        var s = Check(context);
        return [Planned("miss_block", null, s.Form switch
        {
            MissInit.Bat => [OutFeatures / s.R, s.R, s.R],
            MissInit.Mini => [s.R, s.MiniR],
            _ => [s.R, OutFeatures],
        })];
    }

    Settings Check(AdapterContext context)
    {
        var c = context.ConfigAs<MissConfig>();
        if (c.R < 1) throw new ArgumentException($"MissLayer: r must be positive at '{context.Path.External}', got {c.R}");
        if (c.InitWeights == MissInit.Bat && (InFeatures % c.R != 0 || OutFeatures % c.R != 0))
            throw new ArgumentException($"MissLayer: the bat form needs r ({c.R}) to divide both widths of '{context.Path.External}' (in {InFeatures}, out {OutFeatures})");
        if (c.InitWeights == MissInit.Mini && (c.MiniR < 1 || OutFeatures % c.MiniR != 0))
            throw new ArgumentException($"MissLayer: the mini form needs mini_r ({c.MiniR}) to divide the output width of '{context.Path.External}' ({OutFeatures})");
        return new Settings(c.InitWeights, c.R, c.MiniR);
    }

    /// <inheritdoc/>
    protected override void CreateAdapter(AdapterContext context)
    {
        var c = context.ConfigAs<MissConfig>();
        var s = Check(context);
        var dtype = BaseLayer.Weight.DType;
        SetState(context.Name, s);
        var block = s.Form switch
        {
            MissInit.Bat => Tensor.Zeros([OutFeatures / s.R, s.R, s.R], dtype),
            MissInit.Mini => Tensor.Zeros([s.R, s.MiniR], dtype),
            MissInit.Random => KaimingInit.Uniform(s.R, OutFeatures, dtype, context.Generator),
            _ => Tensor.Zeros([s.R, OutFeatures], dtype),
        };
        AddParameter("miss_block", context.Name, block);
        AddDropout("miss_dropout", context.Name, c.MissDropout, context.Generator);
    }

    /// <summary>D as [r, out] for the balanced and mini forms (mini's columns tiled).</summary>
    Tensor SharedBlock(string name)
    {
        var s = State<Settings>(name);
        var d = Block(name);
        return s.Form == MissInit.Mini ? Tensor.Concat(Enumerable.Repeat(d, OutFeatures / s.MiniR).ToArray(), 1) : d;
    }

    /// <summary>The additive update of a balanced or mini adapter [out, in]: Dᵀ repeated along the input shards.</summary>
    public Tensor DeltaWeight(string name)
    {
        var s = State<Settings>(name);
        if (s.Form == MissInit.Bat) throw new InvalidOperationException($"MissLayer: adapter '{name}' has the bat form, whose update depends on the weight; use Transform");
        var dt = SharedBlock(name).T;
        int shards = (InFeatures + s.R - 1) / s.R;
        return Tensor.Concat(Enumerable.Repeat(dt, shards).ToArray(), 1).Narrow(1, 0, InFeatures);
    }

    // The bat form on the r × r blocks of w [out, in]: f(W_{a,c}) D_a + D_a for f = identity (forward) or (W' − D)(I + D)⁻¹.
    Tensor BatBlocks(string name, Tensor weight, bool inverse)
    {
        int r = State<Settings>(name).R;
        var d = Block(name);
        var blocks = weight.Reshape(OutFeatures / r, r, InFeatures / r, r).Permute(2, 0, 1, 3); // [c, a, r, r]
        Tensor result;
        if (inverse)
        {
            var plusI = (d.Detach() + Tensor.Eye(r, dtype: d.DType).To(d.Device)).To(DType.Float64);
            result = (blocks - d) % Linalg.Inverse(plusI).To(weight.DType);
        }
        else result = blocks % d + d;
        return result.Permute(1, 2, 0, 3).Reshape(OutFeatures, InFeatures);
    }

    /// <inheritdoc/>
    public override (Tensor Weight, Tensor? Bias) Transform(string name, Tensor weight, Tensor? bias) =>
        State<Settings>(name).Form == MissInit.Bat ? (weight + BatBlocks(name, weight, inverse: false), bias) : (weight + DeltaWeight(name), bias);

    /// <inheritdoc/>
    public override (Tensor Weight, Tensor? Bias) InverseTransform(string name, Tensor weight, Tensor? bias) =>
        State<Settings>(name).Form == MissInit.Bat ? (BatBlocks(name, weight, inverse: true), bias) : (weight - DeltaWeight(name), bias);

    /// <summary>
    /// Without an active bat adapter: base(x) + Σ_a (Σ_c drop(x)_c) D_a, x zero-padded to a multiple of r (PEFT's
    /// forward). With one, the transformed weight is formed (PEFT applies no dropout there).
    /// </summary>
    protected override Tensor ForwardAdapters(Tensor input, IReadOnlyList<string> adapters)
    {
        if (adapters.Any(a => State<Settings>(a).Form == MissInit.Bat)) return base.ForwardAdapters(input, adapters);
        var result = BaseLayer.Forward(input);
        foreach (var name in adapters)
        {
            int r = State<Settings>(name).R;
            var x = Dropout(name, input);
            int pad = (r - InFeatures % r) % r;
            if (pad > 0) x = x.Pad([0, pad]);
            var shape = x.Shape;
            var pooled = x.Reshape([.. shape[..^1], (InFeatures + pad) / r, r]).Sum(-2);
            result = result + pooled % SharedBlock(name);
        }
        return result;
    }
}
