namespace Engine.Peft.Growth;

/// <summary>
/// A <see cref="Linear"/> with an IncreLoRA adapter (arXiv 2308.12043; <c>increlora.py</c> <c>SVDLinear</c> and
/// <c>loraW</c>; spec adapters-lowrank.md section 1): blocks k = 0, 1, ... of A (<c>lora_A.k</c>: block 0 [r0, in],
/// later blocks [1, in]), lambda (<c>lora_E.k</c>: [r0, 1], then [1, 1]) and B (<c>lora_B.k</c>: [out, r0], then
/// [out, 1]); y = x W0^T + b0 + dropout(x) ΔW^T with ΔW = c B (A * E) / (R + 1e-5), the blocks concatenated and R the
/// module's CURRENT rank (ranknum; pitfall 1: AdaLoRA divides by the constant initial rank). Reserve blocks (the last
/// ones, not yet active) are part of ΔW (pitfall 9): their lambda is 1e-5, frozen until the module grows. The forward
/// keeps ΔW's gradient, from which the model part scores the module (sum |ΔW * dL/dΔW| / sqrt(out in)).
/// </summary>
public sealed class IncreLoraLayer : AdditiveAdapterLayer
{
    /// <summary>Value of a reserve block's lambda while it waits (the reference's 1e-5 with advance_learn).</summary>
    public const double ReserveLambda = 1e-5;

    readonly Dictionary<string, Tensor> _lastDelta = new();

    /// <summary>Wraps <paramref name="baseLayer"/>.</summary>
    public IncreLoraLayer(Linear baseLayer) : base(baseLayer) { }

    /// <summary>The current rank R of adapter <paramref name="name"/> (ranknum).</summary>
    public int Ranknum(string name) => State<IncreState>(name).Ranknum;

    /// <summary>Reserve blocks of adapter <paramref name="name"/>.</summary>
    public int Reserves(string name) => State<IncreState>(name).Reserves;

    /// <summary>Blocks of adapter <paramref name="name"/>, active and reserve.</summary>
    public int Blocks(string name) => State<IncreState>(name).Blocks;

    /// <summary>A of block <paramref name="k"/>.</summary>
    public Tensor LoraA(string name, int k) => Parameter(GrowingBlocks.Container("lora_A", k), name);

    /// <summary>lambda of block <paramref name="k"/>.</summary>
    public Tensor LoraE(string name, int k) => Parameter(GrowingBlocks.Container("lora_E", k), name);

    /// <summary>B of block <paramref name="k"/>.</summary>
    public Tensor LoraB(string name, int k) => Parameter(GrowingBlocks.Container("lora_B", k), name);

    /// <summary>c / (R + 1e-5) with R the current rank.</summary>
    public double Scale(string name)
    {
        var s = State<IncreState>(name);
        return s.Scaling / (s.Ranknum + 1e-5);
    }

    /// <inheritdoc/>
    protected override string FileKey(string container, string? member) => base.FileKey(GrowingBlocks.FileKey(container), member);

    /// <inheritdoc/>
    public override IEnumerable<PlannedTensor> PlanAdapter(AdapterContext context)
    {
        var c = context.ConfigAs<IncreLoraConfig>();
        int blocks = BlockCount(c, context.Path);
        for (int k = 0; k < blocks; k++)
        {
            int r = k == 0 ? c.R : 1;
            yield return Planned(GrowingBlocks.Container("lora_A", k), null, r, InFeatures);
            yield return Planned(GrowingBlocks.Container("lora_E", k), null, r, 1);
            yield return Planned(GrowingBlocks.Container("lora_B", k), null, OutFeatures, r);
        }
    }

    // Block 0 holds r0 ranks, every later block one: active blocks, then the reserves.
    static int BlockCount(IncreLoraConfig c, ModulePath path) => 1 + (c.RankOf(path) - c.R) + c.ReservesOf(path);

    /// <inheritdoc/>
    protected override void CreateAdapter(AdapterContext context)
    {
        var c = context.ConfigAs<IncreLoraConfig>();
        var name = context.Name;
        AddDropout("lora_dropout", name, c.LoraDropout, context.Generator);
        // reset_parameters: E_0 = 0, A_0 and B_0 ~ N(0, 0.02^2), so the layer starts at W0.
        var dtype = BaseLayer.Weight.DType;
        AddParameter("lora_A_0", name, Tensor.Randn([c.R, InFeatures], 0, 0.02, dtype, context.Generator));
        AddParameter("lora_E_0", name, Tensor.Zeros([c.R, 1], dtype));
        AddParameter("lora_B_0", name, Tensor.Randn([OutFeatures, c.R], 0, 0.02, dtype, context.Generator));
        var state = new IncreState(c.Scaling, c.R, context.Generator) { Blocks = 1 };
        SetState(name, state);
        // A loaded (or re-applied) adapter rebuilds its grown blocks and reserves; a file's values replace these.
        int active = c.RankOf(context.Path) - c.R;
        for (int k = 0; k < active; k++) AddBlock(name, c, reserve: false);
        state.Ranknum = c.RankOf(context.Path);
        AddReserves(name, c, c.ReservesOf(context.Path));
    }

    void AddBlock(string name, IncreLoraConfig c, bool reserve)
    {
        var s = State<IncreState>(name);
        var dtype = BaseLayer.Weight.DType;
        int k = s.Blocks++;
        string a = GrowingBlocks.Container("lora_A", k), e = GrowingBlocks.Container("lora_E", k), b = GrowingBlocks.Container("lora_B", k);
        // add_reserve_param: a, b ~ N(0, 0.02^2); e = 1e-5 with advance learning, else 0.
        var device = BaseLayer.Weight.Device;
        AddParameter(a, name, Tensor.Randn([1, InFeatures], 0, 0.02, dtype, s.Generator).To(device));
        AddParameter(e, name, Tensor.Full([1, 1], reserve && !c.AdvanceLearn ? 0 : ReserveLambda, dtype).To(device));
        AddParameter(b, name, Tensor.Randn([OutFeatures, 1], 0, 0.02, dtype, s.Generator).To(device));
        if (!reserve) return;
        FreezeTensor(e, name);
        if (!c.AdvanceLearn) { FreezeTensor(a, name); FreezeTensor(b, name); }
        s.Reserves++;
    }

    /// <summary>
    /// Appends <paramref name="count"/> reserve blocks (<c>add_reserve_param</c>) and returns the new tensors that
    /// train (a and b with advance learning; none without).
    /// </summary>
    public IReadOnlyList<Tensor> AddReserves(string name, IncreLoraConfig config, int count)
    {
        var trained = new List<Tensor>();
        for (int i = 0; i < count; i++)
        {
            AddBlock(name, config, reserve: true);
            int k = Blocks(name) - 1;
            if (config.AdvanceLearn) trained.AddRange([LoraA(name, k), LoraB(name, k)]);
        }
        return trained;
    }

    /// <summary>
    /// Grows the module by <paramref name="add"/> ranks (at most the reserves it holds): the first reserves become
    /// active (their lambda, and without advance learning their a and b, start to train), ranknum grows by
    /// <paramref name="add"/>. Returns the tensors that start to train.
    /// </summary>
    public IReadOnlyList<Tensor> Activate(string name, IncreLoraConfig config, int add)
    {
        var s = State<IncreState>(name);
        if (add < 0 || add > s.Reserves) throw new ArgumentException($"IncreLoraLayer.Activate: cannot activate {add} of {s.Reserves} reserve blocks");
        var trained = new List<Tensor>();
        int first = s.Blocks - s.Reserves;
        for (int k = first; k < first + add; k++)
        {
            trained.Add(UnfreezeTensor(GrowingBlocks.Container("lora_E", k), name));
            if (!config.AdvanceLearn)
            {
                trained.Add(UnfreezeTensor(GrowingBlocks.Container("lora_A", k), name));
                trained.Add(UnfreezeTensor(GrowingBlocks.Container("lora_B", k), name));
            }
        }
        s.Reserves -= add;
        s.Ranknum += add;
        return trained;
    }

    /// <summary>Sets every reserve block's lambda to 0 (the reference does it when the budget is reached).</summary>
    public void ZeroReserves(string name)
    {
        var s = State<IncreState>(name);
        using var _ = Autograd.Autograd.NoGrad();
        for (int k = s.Blocks - s.Reserves; k < s.Blocks; k++) LoraE(name, k).CopyFrom(LoraE(name, k).ZerosLike());
    }

    /// <summary>
    /// Adapter <paramref name="name"/>'s sensitivity from its last recorded forward: sum |ΔW * dL/dΔW| / sqrt(out in) (the reference's
    /// backward hook on <c>loraW</c>), or null when no gradient reached ΔW since.
    /// </summary>
    public double? TakeScore(string name)
    {
        if (!_lastDelta.Remove(name, out var d) || d.Grad is not { } g) return null;
        using var _ = Autograd.Autograd.NoGrad();
        return (d.Detach() * g).Abs().Sum().Item() / Math.Sqrt(d.Numel);
    }

    /// <summary>c B (A * E) / (R + 1e-5) [out, in] over all blocks.</summary>
    public override Tensor DeltaWeight(string name)
    {
        var s = State<IncreState>(name);
        var ks = Enumerable.Range(0, s.Blocks).ToArray();
        var a = Tensor.Concat(ks.Select(k => LoraA(name, k)).ToArray(), 0);
        var e = Tensor.Concat(ks.Select(k => LoraE(name, k)).ToArray(), 0);
        var b = Tensor.Concat(ks.Select(k => LoraB(name, k)).ToArray(), 1);
        return b % (a * e) * Scale(name);
    }

    /// <inheritdoc/>
    protected override Tensor Contribution(string name, Tensor x)
    {
        var delta = DeltaWeight(name);
        // Kept for the module score; only a recorded training forward (not evaluation) replaces it.
        if (delta.RequiresGrad && Training) _lastDelta[name] = delta.RetainGrad();
        return LinearMap(x, delta);
    }

    /// <inheritdoc/>
    protected override void OnRemoving(string name) => _lastDelta.Remove(name);

    sealed class IncreState(double scaling, int ranknum, Generator? generator)
    {
        public double Scaling { get; } = scaling;
        public int Ranknum { get; set; } = ranknum;
        public int Blocks { get; set; }
        public int Reserves { get; set; }
        public Generator? Generator { get; } = generator;
    }
}
