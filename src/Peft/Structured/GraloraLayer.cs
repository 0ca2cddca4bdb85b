namespace Engine.Peft.Structured;

/// <summary>
/// A <see cref="Linear"/> with GraLoRA adapters (PEFT's <c>gralora.Linear</c>): <c>gralora_A</c> [k, in/k, r] holds
/// one A_n per input block n, <c>gralora_B</c> [k, r, out/k] one B_j per output block j, and with q = r / k the block
/// (j, n) of ΔW is s (A_n[:, jq:(j+1)q] B_j[nq:(n+1)q, :])ᵀ. With hybrid_r = h &gt; 0, <c>gralora_A_general.weight</c>
/// [h, in] and <c>gralora_B_general.weight</c> [out, h] add s B_g A_g. s = alpha / (r + h). Init: every A_n (as an
/// [r, in/k] matrix) and A_g Kaiming-uniform, B and B_g zero.
/// </summary>
public sealed class GraloraLayer : AdditiveAdapterLayer
{
    /// <summary>Wraps <paramref name="baseLayer"/>.</summary>
    public GraloraLayer(Linear baseLayer) : base(baseLayer) { }

    sealed record Settings(int R, int K, int HybridR, double Scaling);

    /// <summary>A [k, in/k, r] of adapter <paramref name="name"/>.</summary>
    public Tensor A(string name) => Parameter("gralora_A", name);

    /// <summary>B [k, r, out/k] of adapter <paramref name="name"/>.</summary>
    public Tensor B(string name) => Parameter("gralora_B", name);

    /// <inheritdoc/>
    public override IEnumerable<PlannedTensor> PlanAdapter(AdapterContext context)
    {
        var (c, k, r, h) = Check(context);
        var plan = new List<PlannedTensor> { Planned("gralora_A", null, k, InFeatures / k, r), Planned("gralora_B", null, k, r, OutFeatures / k) };
        if (h > 0) plan.AddRange([Planned("gralora_A_general", "weight", h, InFeatures), Planned("gralora_B_general", "weight", OutFeatures, h)]);
        return plan;
    }

    (GraloraConfig, int K, int R, int H) Check(AdapterContext context)
    {
        var c = context.ConfigAs<GraloraConfig>();
        int k = c.GraloraK;
        if (k < 1 || c.R < 1 || c.R % k != 0) throw new ArgumentException($"GraloraLayer: r ({c.R}) must be a positive multiple of gralora_k ({k})");
        if (InFeatures % k != 0 || OutFeatures % k != 0)
            throw new ArgumentException($"GraloraLayer: gralora_k ({k}) must divide both widths of '{context.Path.External}' (in {InFeatures}, out {OutFeatures})");
        if (c.HybridR < 0) throw new ArgumentException($"GraloraLayer: hybrid_r must be non-negative, got {c.HybridR}");
        return (c, k, c.R, c.HybridR);
    }

    /// <inheritdoc/>
    protected override void CreateAdapter(AdapterContext context)
    {
        var (c, k, r, h) = Check(context);
        var name = context.Name;
        var dtype = BaseLayer.Weight.DType;
        var g = context.Generator;
        SetState(name, new Settings(r, k, h, c.Scaling));
        AddDropout("gralora_dropout", name, c.GraloraDropout, g);
        // PEFT draws each block's A as an [r, in/k] matrix (fan-in in/k) and stores them stacked and transposed.
        var blocksA = Enumerable.Range(0, k).Select(_ => KaimingInit.Uniform(r, InFeatures / k, dtype, g).T).ToArray();
        AddParameter("gralora_A", name, Tensor.Stack(blocksA).Contiguous());
        var blocksB = Enumerable.Range(0, k).Select(_ => c.InitWeights ? Tensor.Zeros([r, OutFeatures / k], dtype) : KaimingInit.Uniform(OutFeatures / k, r, dtype, g).T).ToArray();
        AddParameter("gralora_B", name, Tensor.Stack(blocksB).Contiguous());
        if (h == 0) return;
        // nn.Linear's own init is PEFT's Kaiming-uniform (a = sqrt 5) for both; B_g then starts at zero.
        AddModule("gralora_A_general", name, new Linear(InFeatures, h, bias: false, g));
        var bg = AddModule("gralora_B_general", name, new Linear(h, OutFeatures, bias: false, g));
        if (c.InitWeights)
            using (Autograd.Autograd.NoGrad()) Init.Zeros(bg.Weight);
    }

    /// <summary>The grid's blocks as one [out, in] matrix plus the hybrid LoRA, scaled.</summary>
    public override Tensor DeltaWeight(string name)
    {
        var s = State<Settings>(name);
        int k = s.K, q = s.R / k, inBlock = InFeatures / k, outBlock = OutFeatures / k;
        // P[j, n] = A_n[:, jq:(j+1)q] B_j[nq:(n+1)q, :] [in/k, out/k]; ΔW[j·out/k + o, n·in/k + i] = P[j, n, i, o].
        var a = A(name).Reshape(k, inBlock, k, q).Permute(2, 0, 1, 3);
        var b = B(name).Reshape(k, k, q, outBlock);
        var delta = (a % b).Permute(0, 3, 1, 2).Reshape(OutFeatures, InFeatures);
        if (s.HybridR > 0) delta = delta + ModuleOf<Linear>("gralora_B_general", name).Weight % ModuleOf<Linear>("gralora_A_general", name).Weight;
        return delta * s.Scaling;
    }

    /// <summary>
    /// The factored forward: h_n = x_n A_n [r] per input block n; output block j = concat_n(h_n[jq:(j+1)q]) B_j;
    /// plus the hybrid B_g A_g x; all scaled.
    /// </summary>
    protected override Tensor Contribution(string name, Tensor x)
    {
        var s = State<Settings>(name);
        int k = s.K, q = s.R / k;
        var shape = x.Shape;
        int rows = shape[..^1].Aggregate(1, (p, d) => p * d);
        var blocks = x.Reshape(rows, k, InFeatures / k).Permute(1, 0, 2);            // [n, rows, in/k]
        var h = (blocks % A(name)).Reshape(k, rows, k, q).Permute(2, 1, 0, 3);      // [j, rows, n, q]
        var y = (h.Reshape(k, rows, s.R) % B(name)).Permute(1, 0, 2).Reshape(rows, OutFeatures);
        if (s.HybridR > 0)
            y = y + LinearMap(LinearMap(x, ModuleOf<Linear>("gralora_A_general", name).Weight), ModuleOf<Linear>("gralora_B_general", name).Weight).Reshape(rows, OutFeatures);
        shape[^1] = OutFeatures;
        return (y * s.Scaling).Reshape(shape);
    }
}
