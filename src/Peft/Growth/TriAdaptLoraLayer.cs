namespace Engine.Peft.Growth;

/// <summary>
/// A <see cref="Linear"/> with a TriAdaptLoRA adapter (arXiv 2501.08008; <c>triadaptlora.py</c> <c>TriAdaptLoraLayer</c>
/// and <c>loraW</c>; spec adapters-lowrank.md section 2). Block i of a_i ranks, up to the cumulative size S_i, holds
/// A_i [a_i, in] (<c>lora_A.i</c>), B_i [out, a_i] (<c>lora_B.i</c>), C_row_i [a_i, S_i] (<c>lora_C_row.i</c>) and
/// C_col_i [S_i, a_i] (<c>lora_C_col.i</c>). The core C [R, R] is the sum of a lower part (C_row_i in rows
/// [S_{i-1}, S_i), columns [0, S_i)) and an upper part (C_col_i in columns [S_{i-1}, S_i), rows [0, S_i)), so the
/// diagonal blocks receive both; y = x W0^T + b0 + dropout(x) ΔW^T with ΔW = alpha B C A / (R + 1e-5), R = S_last the
/// CURRENT rank (the reference file multiplies by a constant 2 instead; its backups and the spec divide by the rank).
/// </summary>
public sealed class TriAdaptLoraLayer : AdditiveAdapterLayer
{
    /// <summary>Wraps <paramref name="baseLayer"/>.</summary>
    public TriAdaptLoraLayer(Linear baseLayer) : base(baseLayer) { }

    /// <summary>Cumulative block sizes S_1, S_2, ... of adapter <paramref name="name"/>.</summary>
    public IReadOnlyList<int> BlockSizes(string name) => State<TriState>(name).Sizes;

    /// <summary>The current rank R.</summary>
    public int Rank(string name) => State<TriState>(name).Sizes[^1];

    /// <summary>The normalised norm n of the last score evaluation (or of the creation).</summary>
    public double LastNorm(string name) => State<TriState>(name).LastNorm;

    /// <summary>A of block <paramref name="i"/>.</summary>
    public Tensor LoraA(string name, int i) => Parameter(GrowingBlocks.Container("lora_A", i), name);

    /// <summary>B of block <paramref name="i"/>.</summary>
    public Tensor LoraB(string name, int i) => Parameter(GrowingBlocks.Container("lora_B", i), name);

    /// <summary>C_row of block <paramref name="i"/>.</summary>
    public Tensor LoraCRow(string name, int i) => Parameter(GrowingBlocks.Container("lora_C_row", i), name);

    /// <summary>C_col of block <paramref name="i"/>.</summary>
    public Tensor LoraCCol(string name, int i) => Parameter(GrowingBlocks.Container("lora_C_col", i), name);

    /// <summary>alpha / (R + 1e-5).</summary>
    public double Scale(string name) => State<TriState>(name).Scaling / (Rank(name) + 1e-5);

    /// <inheritdoc/>
    protected override string FileKey(string container, string? member) => base.FileKey(GrowingBlocks.FileKey(container), member);

    /// <inheritdoc/>
    public override IEnumerable<PlannedTensor> PlanAdapter(AdapterContext context)
    {
        var sizes = context.ConfigAs<TriAdaptLoraConfig>().BlocksOf(context.Path);
        for (int i = 0; i < sizes.Length; i++)
        {
            int s = sizes[i], a = s - (i == 0 ? 0 : sizes[i - 1]);
            yield return Planned(GrowingBlocks.Container("lora_A", i), null, a, InFeatures);
            yield return Planned(GrowingBlocks.Container("lora_B", i), null, OutFeatures, a);
            yield return Planned(GrowingBlocks.Container("lora_C_row", i), null, a, s);
            yield return Planned(GrowingBlocks.Container("lora_C_col", i), null, s, a);
        }
    }

    /// <inheritdoc/>
    protected override void CreateAdapter(AdapterContext context)
    {
        var c = context.ConfigAs<TriAdaptLoraConfig>();
        var name = context.Name;
        AddDropout("lora_dropout", name, c.LoraDropout, context.Generator);
        var state = new TriState(c.Scaling, context.Generator);
        SetState(name, state);
        foreach (var s in c.BlocksOf(context.Path)) AddBlock(name, c, s - (state.Sizes.Count == 0 ? 0 : state.Sizes[^1]));
        // reset_lora_parameters computes the score once, so the first evaluation is a change from the start.
        state.LastNorm = c.NormPattern is { } norms && norms.TryGetValue(context.Path.External, out double n) ? n : NormalizedNorm(name);
    }

    /// <summary>
    /// Appends a block of <paramref name="add"/> ranks (<c>add_parameters</c>) and returns its four tensors. "eye":
    /// C_row, C_col = eye_, A ~ N(0, 0.02^2), B = 0 (or N(0, b_init_std^2)); "zero": all 0, except the first block's A.
    /// </summary>
    public IReadOnlyList<Tensor> AddBlock(string name, TriAdaptLoraConfig config, int add)
    {
        if (add < 1) throw new ArgumentException($"TriAdaptLoraLayer.AddBlock: a block needs at least one rank, got {add}");
        var st = State<TriState>(name);
        int i = st.Sizes.Count, size = (i == 0 ? 0 : st.Sizes[^1]) + add;
        var dtype = BaseLayer.Weight.DType;
        var device = BaseLayer.Weight.Device;
        bool eye = config.InitWeights == "eye";
        var a = eye || i == 0 ? Tensor.Randn([add, InFeatures], 0, 0.02, dtype, st.Generator) : Tensor.Zeros([add, InFeatures], dtype);
        var b = config.BInitStd > 0 ? Tensor.Randn([OutFeatures, add], 0, config.BInitStd, dtype, st.Generator) : Tensor.Zeros([OutFeatures, add], dtype);
        var cRow = eye ? Tensor.Eye(add, size, dtype) : Tensor.Zeros([add, size], dtype);
        var cCol = eye ? Tensor.Eye(size, add, dtype) : Tensor.Zeros([size, add], dtype);
        var result = new[]
        {
            AddParameter(GrowingBlocks.Container("lora_A", i), name, a.To(device)),
            AddParameter(GrowingBlocks.Container("lora_B", i), name, b.To(device)),
            AddParameter(GrowingBlocks.Container("lora_C_row", i), name, cRow.To(device)),
            AddParameter(GrowingBlocks.Container("lora_C_col", i), name, cCol.To(device)),
        };
        st.Sizes.Add(size);
        return result;
    }

    /// <summary>The core C [R, R]: the lower part from the C_row blocks plus the upper part from the C_col blocks.</summary>
    public Tensor Core(string name)
    {
        var sizes = State<TriState>(name).Sizes;
        int r = sizes[^1];
        var rows = new Tensor[sizes.Count];
        var cols = new Tensor[sizes.Count];
        for (int i = 0; i < sizes.Count; i++)
        {
            var cr = LoraCRow(name, i);
            var cc = LoraCCol(name, i);
            rows[i] = sizes[i] == r ? cr : Tensor.Concat([cr, Tensor.Zeros([cr.Size(0), r - sizes[i]], cr.DType).To(cr.Device)], 1);
            cols[i] = sizes[i] == r ? cc : Tensor.Concat([cc, Tensor.Zeros([r - sizes[i], cc.Size(1)], cc.DType).To(cc.Device)], 0);
        }
        return Tensor.Concat(rows, 0) + Tensor.Concat(cols, 1);
    }

    /// <summary>A of all blocks [R, in].</summary>
    public Tensor AllA(string name) => Tensor.Concat(Enumerable.Range(0, State<TriState>(name).Sizes.Count).Select(i => LoraA(name, i)).ToArray(), 0);

    /// <summary>B of all blocks [out, R].</summary>
    public Tensor AllB(string name) => Tensor.Concat(Enumerable.Range(0, State<TriState>(name).Sizes.Count).Select(i => LoraB(name, i)).ToArray(), 1);

    /// <summary>||C||_F / #blocks.</summary>
    public double NormalizedNorm(string name)
    {
        using var _ = Autograd.Autograd.NoGrad();
        return Core(name).Square().Sum().Sqrt().Item() / State<TriState>(name).Sizes.Count;
    }

    /// <summary>The score n_t - n_{previous evaluation} (<c>compute_score</c>); the current n becomes the previous.</summary>
    public double ComputeScore(string name)
    {
        var st = State<TriState>(name);
        double n = NormalizedNorm(name);
        double score = n - st.LastNorm;
        st.LastNorm = n;
        return score;
    }

    /// <summary>alpha B C A / (R + 1e-5) [out, in].</summary>
    public override Tensor DeltaWeight(string name) => AllB(name) % (Core(name) % AllA(name)) * Scale(name);

    /// <inheritdoc/>
    protected override Tensor Contribution(string name, Tensor x) =>
        LinearMap(LinearMap(LinearMap(x, AllA(name)), Core(name)), AllB(name)) * Scale(name);

    sealed class TriState(double scaling, Generator? generator)
    {
        public double Scaling { get; } = scaling;
        public List<int> Sizes { get; } = new();
        public double LastNorm { get; set; }
        public Generator? Generator { get; } = generator;
    }
}
