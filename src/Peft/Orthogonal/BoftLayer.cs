using System.Collections.Concurrent;

namespace Engine.Peft.Orthogonal;

/// <summary>
/// A <see cref="Linear"/> with BOFT adapters (PEFT's <c>boft.Linear</c>): y = s ⊙ ((x M) Wᵀ) + b, the bias not scaled,
/// with M = M_m ⋯ M_0, M_k = P_k BD_k P_kᵀ, BD_k = blockdiag of the exact Cayley rotations of ½(R - Rᵀ) over the D
/// blocks of factor k of <c>boft_R</c> [m+1, D, b, b]; <c>boft_s</c> [out, 1]. Merge: W' = diag(s) W Mᵀ; unmerge:
/// W = diag(1/s) W' M (M is orthogonal, PEFT's inverse too). M is formed densely [in, in], as PEFT does. In training, boft_dropout replaces a fraction of one random factor's blocks by
/// the identity (PEFT's <c>MultiplicativeDropoutLayer</c>). The engine adapts any Linear (PEFT: nn.Linear only).
/// </summary>
public sealed class BoftLayer : WeightTransformAdapterLayer
{
    sealed record BoftSettings(int BlockSize, int BlockNum, int Factors, double Dropout, Generator Generator);

    /// <summary>Wraps <paramref name="baseLayer"/>.</summary>
    public BoftLayer(Linear baseLayer) : base(baseLayer) { }

    /// <summary><c>boft_R</c> [m+1, D, b, b] of adapter <paramref name="name"/> (its skew parts generate the rotations).</summary>
    public Tensor R(string name) => Parameter("boft_R", name);

    /// <summary><c>boft_s</c> [out, 1] of adapter <paramref name="name"/>: the output scale.</summary>
    public Tensor S(string name) => Parameter("boft_s", name);

    /// <summary>The number of butterfly factors m + 1 of adapter <paramref name="name"/> on this layer.</summary>
    public int Factors(string name) => State<BoftSettings>(name).Factors;

    /// <inheritdoc/>
    public override IEnumerable<PlannedTensor> PlanAdapter(AdapterContext context)
    {
        var (m, b, d) = Sizes(context);
        yield return Planned("boft_R", null, m + 1, d, b, b);
        yield return Planned("boft_s", null, OutFeatures, 1);
    }

    // A file may hold one factor whatever boft_n_butterfly_factor says: PEFT without its CUDA extension (on a CPU) forces
    // factor 1 (spec H). Such a file loads with one factor; any other count must be the config's.
    (int M, int BlockSize, int BlockNum) Sizes(AdapterContext context)
    {
        var c = context.ConfigAs<BoftConfig>();
        int m = context.FileShape("boft_R") is [1, ..] ? 0 : c.BoftNButterflyFactor - 1;
        var (b, d) = c.BlocksFor(InFeatures, m);
        return (m, b, d);
    }

    /// <inheritdoc/>
    protected override void CreateAdapter(AdapterContext context)
    {
        var c = context.ConfigAs<BoftConfig>();
        var (m, b, d) = Sizes(context);
        var g = context.Generator;
        SetState(context.Name, new BoftSettings(b, d, m + 1, c.BoftDropout, g));
        var dtype = BaseLayer.Weight.DType;
        // PEFT: R = 0 and s = 1 (the base model); init_weights = false draws R ~ N(0, 0.1²), s ~ N(1, 0.1²).
        AddParameter("boft_R", context.Name, c.InitWeights ? Tensor.Zeros([m + 1, d, b, b], dtype) : Tensor.Randn([m + 1, d, b, b], 0, 0.1, dtype, g));
        AddParameter("boft_s", context.Name, c.InitWeights ? Tensor.Ones([OutFeatures, 1], dtype) : Tensor.Randn([OutFeatures, 1], 1, 0.1, dtype, g));
    }

    /// <summary>The rotations O [m+1, D, b, b] of adapter <paramref name="name"/>: the exact Cayley transform of ½(R - Rᵀ), with block dropout in training.</summary>
    public Tensor Rotations(string name)
    {
        var s = State<BoftSettings>(name);
        return Blocks(name, dropout: true).Reshape(s.Factors, s.BlockNum, s.BlockSize, s.BlockSize);
    }

    // The rotations as [(m+1) D, b, b] (rank-4 tensors are slow on the ILGPU backends); merging never drops blocks
    // (PEFT's get_delta_weight has no dropout).
    Tensor Blocks(string name, bool dropout)
    {
        var s = State<BoftSettings>(name);
        var o = SkewCayley.Cayley(SkewCayley.SkewPart(R(name).Reshape(s.Factors * s.BlockNum, s.BlockSize, s.BlockSize)));
        return dropout && Training && s.Dropout > 0 ? DropBlocks(o, s) : o;
    }

    // PEFT's MultiplicativeDropoutLayer: one factor drawn at random has int(p D) of its blocks, drawn at random, replaced by I.
    static Tensor DropBlocks(Tensor o, BoftSettings s)
    {
        int drop = (int)(s.Dropout * s.BlockNum);
        if (drop == 0) return o;
        var u = Tensor.Rand([1 + s.BlockNum], dtype: DType.Float64, generator: s.Generator).ToDoubleArray();
        int factor = Math.Min((int)(u[0] * s.Factors), s.Factors - 1);
        var dropped = Enumerable.Range(0, s.BlockNum).OrderBy(i => u[1 + i]).Take(drop).ToHashSet();
        var mask = new float[s.Factors * s.BlockNum];
        for (int i = 0; i < s.BlockNum; i++) if (dropped.Contains(i)) mask[factor * s.BlockNum + i] = 1;
        var keep = Tensor.FromArray(mask, [s.Factors * s.BlockNum, 1, 1]).To(o.DType).To(o.Device);
        var eye = Tensor.Eye(s.BlockSize, dtype: o.DType).To(o.Device);
        return o * (1 - keep) + eye * keep;
    }

    /// <summary>
    /// M = M_m ⋯ M_0 [in, in] from the rotations <paramref name="o"/> [(m+1) D, b, b], as PEFT forms it: each factor
    /// M_k = P_k BD_k P_kᵀ is one gather of O's entries ((P A Pᵀ)_ij = A[p_i, p_j]), then m dense products. Dense
    /// [in, in] matrices rather than batched block products: the accelerator backends launch one product per block.
    /// </summary>
    Tensor Butterfly(Tensor o, BoftSettings s)
    {
        var padded = Tensor.Concat([Tensor.Zeros([1], o.DType, o.Device), o.Reshape(-1)]);
        var maps = FactorMaps(InFeatures, s, o.Device);
        Tensor? m = null;
        for (int k = 0; k < s.Factors; k++)
        {
            var mk = padded.IndexSelect(0, maps[k]).Reshape(InFeatures, InFeatures);
            m = m is null ? mk : mk % m;
        }
        return m!;
    }

    static readonly ConcurrentDictionary<(int In, int BlockNum, int BlockSize, int Factors, Device Device), Tensor[]> Maps = new();

    // Entry (i, j) of M_k reads O_k's block of p_i at (p_i mod b, p_j mod b) when p_i and p_j share a block, else the
    // zero in front: an index into [0, O...]. Shared by every layer of the same sizes.
    static Tensor[] FactorMaps(int n, BoftSettings s, Device device) => Maps.GetOrAdd((n, s.BlockNum, s.BlockSize, s.Factors, device), key =>
    {
        int b = key.BlockSize;
        var perms = BoftButterfly.Factors(n, key.BlockNum, b, key.Factors - 1);
        var maps = new Tensor[key.Factors];
        for (int k = 0; k < key.Factors; k++)
        {
            var map = new long[(long)n * n];
            var p = perms[k];
            for (int i = 0; i < n; i++)
                for (int j = 0; j < n; j++)
                    if (p[i] / b == p[j] / b) map[(long)i * n + j] = 1 + ((long)(k * key.BlockNum + p[i] / b) * b + p[i] % b) * b + p[j] % b;
            maps[k] = Tensor.FromArray(map).To(device);
        }
        return maps;
    });

    /// <summary>M [in, in] of adapter <paramref name="name"/> (evaluation-mode rotations), for tests and inspection.</summary>
    public Tensor Butterfly(string name) => Butterfly(Blocks(name, dropout: false), State<BoftSettings>(name));

    /// <summary>diag(s) W Mᵀ; the bias is unchanged.</summary>
    public override (Tensor Weight, Tensor? Bias) Transform(string name, Tensor weight, Tensor? bias) =>
        (weight.MatMul(Butterfly(name).T) * S(name), bias);

    /// <summary>diag(1/s) W M (PEFT's unmerge: M is orthogonal).</summary>
    public override (Tensor Weight, Tensor? Bias) InverseTransform(string name, Tensor weight, Tensor? bias) =>
        ((weight / S(name)).MatMul(Butterfly(name)), bias);

    /// <summary>
    /// PEFT's forward: x times the product of the active adapters' M (the last adapter's first, as PEFT's accumulated
    /// rotation M_last ⋯ M_first), the base layer, then the output (bias aside) scaled by every adapter's s.
    /// </summary>
    protected override Tensor ForwardAdapters(Tensor input, IReadOnlyList<string> adapters)
    {
        Tensor? m = null;
        Tensor? scale = null;
        foreach (var name in adapters)
        {
            var mi = Butterfly(Blocks(name, dropout: true), State<BoftSettings>(name));
            m = m is null ? mi : mi % m;
        }
        var shape = input.Shape;
        var x = input.Reshape(-1, InFeatures).MatMul(m!).Reshape(shape);
        foreach (var name in adapters) scale = scale is null ? S(name).Reshape(OutFeatures) : scale * S(name).Reshape(OutFeatures);
        var bias = BaseLayer.Bias;
        var y = BaseLayer.Forward(x);
        return bias is null ? y * scale! : (y - bias) * scale! + bias;
    }
}
