namespace Engine.Peft.LowRank;

/// <summary>
/// A <see cref="Linear"/> with PLP LoRA adapters (<see cref="PlpLoraConfig"/>; B4M, spec seeds-remaining.md §2):
/// y = x W0ᵀ + b0 + s x Aᵀ Bᵀ with A = [A_f | A_t] [r, in] and B = [B_f; B_t] [out, r]. The frozen halves are tensors of
/// their own that never require a gradient, A_f = A[:, :in/2] (<c>plp_A_frozen</c>, a buffer) and B_f = B[:out/2, :]
/// (<c>plp_B_frozen</c>), so they stay bit-identical under any optimiser, weight decay included; the trained halves are
/// <c>plp_A</c> = A[:, in/2:] and <c>plp_B</c> = B[out/2:, :]. The reference keeps one tensor per factor and zeroes the
/// frozen part's gradient by a hook, which its AdamW's decoupled decay still shrinks (by 1 − lr·wd per step).
/// </summary>
public sealed class PlpLoraLayer : AdditiveAdapterLayer
{
    /// <summary>File key of A[:, :in/2] (frozen).</summary>
    public const string FrozenAKey = "plp_A_frozen";

    /// <summary>File key of A[:, in/2:] (trained).</summary>
    public const string TrainedAKey = "plp_A";

    /// <summary>File key of B[:out/2, :] (frozen).</summary>
    public const string FrozenBKey = "plp_B_frozen";

    /// <summary>File key of B[out/2:, :] (trained).</summary>
    public const string TrainedBKey = "plp_B";

    /// <summary>Wraps <paramref name="baseLayer"/>; add adapters with <see cref="AdapterLayer.AddAdapter"/>.</summary>
    public PlpLoraLayer(Linear baseLayer) : base(baseLayer) { }

    /// <summary>in/2 (rounded down, as the reference's <c>// 2</c>): the frozen columns of A.</summary>
    public int HalfIn => InFeatures / 2;

    /// <summary>out/2 (rounded down): the frozen rows of B.</summary>
    public int HalfOut => OutFeatures / 2;

    /// <summary>The config adapter <paramref name="name"/> was added with.</summary>
    public PlpLoraConfig Config(string name) => (PlpLoraConfig)ConfigOf(name);

    /// <summary>A[:, :in/2] [r, in/2] of adapter <paramref name="name"/> (never trains).</summary>
    public Tensor FrozenA(string name) => Buffer(FrozenAKey, name);

    /// <summary>A[:, in/2:] [r, in − in/2] of adapter <paramref name="name"/> (trains).</summary>
    public Tensor TrainedA(string name) => Parameter(TrainedAKey, name);

    /// <summary>B[:out/2, :] [out/2, r] of adapter <paramref name="name"/> (never trains).</summary>
    public Tensor FrozenB(string name) => Buffer(FrozenBKey, name);

    /// <summary>B[out/2:, :] [out − out/2, r] of adapter <paramref name="name"/> (trains).</summary>
    public Tensor TrainedB(string name) => Parameter(TrainedBKey, name);

    /// <summary>The whole A = [A_f | A_t] [r, in] of adapter <paramref name="name"/> (differentiable in A_t).</summary>
    public Tensor LoraA(string name) => Tensor.Concat([FrozenA(name), TrainedA(name)], 1);

    /// <summary>The whole B = [B_f; B_t] [out, r] of adapter <paramref name="name"/> (differentiable in B_t).</summary>
    public Tensor LoraB(string name) => Tensor.Concat([FrozenB(name), TrainedB(name)], 0);

    /// <summary>The trained halves of adapter <paramref name="name"/> as a factor pair whose Gram matrices come from the whole factors (for <see cref="AdamWr"/>).</summary>
    public LowRankFactorPair FactorPair(string name) =>
        new(TrainedA(name), TrainedB(name), () => LoraA(name).Detach(), () => LoraB(name).Detach());

    /// <inheritdoc/>
    public override IEnumerable<PlannedTensor> PlanAdapter(AdapterContext context)
    {
        var c = context.ConfigAs<PlpLoraConfig>();
        Require(c, context);
        return [Planned(FrozenAKey, null, c.R, HalfIn), Planned(TrainedAKey, null, c.R, InFeatures - HalfIn),
                Planned(FrozenBKey, null, HalfOut, c.R), Planned(TrainedBKey, null, OutFeatures - HalfOut, c.R)];
    }

    /// <inheritdoc/>
    protected override void CreateAdapter(AdapterContext context)
    {
        var c = context.ConfigAs<PlpLoraConfig>();
        Require(c, context);
        var generator = c.InitName is { } initName ? AdapterContext.GeneratorFor(c.Seed, context.Path.Engine, initName) : context.Generator;
        var (a, b) = Initial(c, generator);
        var dtype = BaseWeight.DType;
        var device = BaseWeight.Device;
        Tensor Part(Tensor t, int dim, int start, int length) => t.Narrow(dim, start, length).Contiguous().To(dtype).To(device);
        AddBuffer(FrozenAKey, context.Name, Part(a, 1, 0, HalfIn));
        AddParameter(TrainedAKey, context.Name, Part(a, 1, HalfIn, InFeatures - HalfIn));
        AddBuffer(FrozenBKey, context.Name, Part(b, 0, 0, HalfOut));
        AddParameter(TrainedBKey, context.Name, Part(b, 0, HalfOut, OutFeatures - HalfOut));
    }

    /// <summary>
    /// The initial (A [r, in], B [out, r]) in Float64 (lora.py <c>__init__</c> and <c>initialize_weights_feature</c>):
    /// A ~ N(0, (1/r)²), B = 0; with orth and in = out, Q [n, r] = the QR of an n × r Gaussian (torch's
    /// <c>orthogonal_</c>), I1 = the first in/2 of a random permutation of the n rows, I2 = the first in/2 of the other
    /// rows in ascending order (the reference's set difference), A[:, :in/2] = Q[I1]ᵀ, B[:in/2, :] = Q[I2]; with
    /// orth_all_modules on a module with in ≠ out, I2 has out/2 rows and fills B[:out/2, :].
    /// </summary>
    public (Tensor A, Tensor B) Initial(PlpLoraConfig c, Generator generator)
    {
        int r = c.R, h = HalfIn, ho = HalfOut;
        var a = Tensor.Randn([r, InFeatures], 0, 1.0 / r, DType.Float64, generator);
        var b = Tensor.Zeros([OutFeatures, r], DType.Float64);
        if (!OrthApplies(c)) return (a, b);
        int n = BasisSize(c);
        var (q, _) = Linalg.Qr(Tensor.Randn([n, r], 0, 1, DType.Float64, generator));
        var order = Permutation(n, generator);
        var first = order.Take(h).ToArray();
        var second = Enumerable.Range(0, n).Except(first).Take(ho).Select(i => (long)i).ToArray();
        var qFirst = q.IndexSelect(0, Tensor.FromArray(first.Select(i => (long)i).ToArray(), [h]));
        var qSecond = q.IndexSelect(0, Tensor.FromArray(second, [ho]));
        a = Tensor.Concat([qFirst.T, a.Narrow(1, h, InFeatures - h)], 1);
        b = Tensor.Concat([qSecond, b.Narrow(0, ho, OutFeatures - ho)], 0);
        return (a.Contiguous(), b.Contiguous());
    }

    /// <summary>True when adapter config <paramref name="c"/> initialises this module's frozen halves orthogonally (orth and in = out, or orth_all_modules).</summary>
    public bool OrthApplies(PlpLoraConfig c) => c.Orth && (InFeatures == OutFeatures || c.OrthAllModules);

    // n: the config's, else max(in, in/2 + out/2).
    int BasisSize(PlpLoraConfig c) => c.OrthBasisSize ?? Math.Max(InFeatures, HalfIn + HalfOut);

    void Require(PlpLoraConfig c, AdapterContext context)
    {
        string where = $"PlpLoraLayer at '{context.Path.External}' [{OutFeatures}, {InFeatures}]";
        if (c.R < 1) throw new ArgumentException($"{where}: rank must be positive, got {c.R}");
        if (InFeatures < 2 || OutFeatures < 2) throw new ArgumentException($"{where}: a partly learnable projection needs at least 2 inputs and 2 outputs (a frozen and a trained half)");
        if (!OrthApplies(c)) return;
        int n = BasisSize(c);
        if (n < HalfIn + HalfOut || n < c.R)
            throw new ArgumentException($"{where}: orth_basis_size {n} must be at least in/2 + out/2 = {HalfIn + HalfOut} and at least r = {c.R} (or set orth false)");
    }

    // A uniformly random permutation of 0..n-1 (the order of n uniform keys), for the reference's randperm.
    static int[] Permutation(int n, Generator generator)
    {
        var keys = Tensor.Rand([n], 0, 1, DType.Float64, generator).ToArray<double>();
        var order = Enumerable.Range(0, n).ToArray();
        Array.Sort(keys, order);
        return order;
    }

    /// <summary>s B A [out, in].</summary>
    public override Tensor DeltaWeight(string name) => LoraB(name) % LoraA(name) * Config(name).Scaling;

    /// <inheritdoc/>
    protected override Tensor Contribution(string name, Tensor x) => LinearMap(LinearMap(x, LoraA(name)), LoraB(name)) * Config(name).Scaling;
}
