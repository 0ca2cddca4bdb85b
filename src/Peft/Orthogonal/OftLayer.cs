namespace Engine.Peft.Orthogonal;

/// <summary>
/// A <see cref="Linear"/> with OFT adapters (PEFT's <c>oft.Linear</c> and <c>OFTRotationModule</c>): the input is split
/// into nb blocks of b and each is rotated, x_i ← x_i R_i, before the base layer, so W' = W R_bdᵀ; merging applies that
/// to the weight and unmerging multiplies by the inverse rotation (the Neumann series is only nearly orthogonal).
/// <c>oft_R.weight</c> [nb, b(b-1)/2] ([1, …] with block_share) holds each skew Q_i's upper triangle
/// (<see cref="SkewCayley"/>). With coft each row is projected in place before every forward and merge, as PEFT does.
/// The engine adapts any Linear, GPT-2's Conv1D projections included (PEFT adapts nn.Linear only: an extension).
/// </summary>
public sealed class OftLayer : WeightTransformAdapterLayer
{
    sealed record OftSettings(int BlockSize, bool Neumann, int Terms, double? CoftRadius);

    /// <summary>The container of one adapter's generator vectors: its <c>weight</c> is PEFT's <c>oft_R.weight</c>.</summary>
    sealed class OftRotation : Module
    {
        public OftRotation(Tensor weight) => RegisterParameter("weight", weight);

        public Tensor Weight => GetParameter("weight");
    }

    /// <summary>Wraps <paramref name="baseLayer"/>.</summary>
    public OftLayer(Linear baseLayer) : base(baseLayer) { }

    /// <summary>The trained vectors <c>oft_R.weight</c> [nb or 1, b(b-1)/2] of adapter <paramref name="name"/>.</summary>
    public Tensor Vectors(string name) => ModuleOf<OftRotation>("oft_R", name).Weight;

    /// <summary>The block size b of adapter <paramref name="name"/> on this layer.</summary>
    public int BlockSize(string name) => State<OftSettings>(name).BlockSize;

    /// <inheritdoc/>
    public override IEnumerable<PlannedTensor> PlanAdapter(AdapterContext context)
    {
        var c = context.ConfigAs<OftConfig>();
        int b = c.BlockSizeFor(InFeatures);
        yield return Planned("oft_R", "weight", c.BlockShare ? 1 : InFeatures / b, SkewCayley.UpperCount(b));
    }

    /// <inheritdoc/>
    protected override void CreateAdapter(AdapterContext context)
    {
        var c = context.ConfigAs<OftConfig>();
        int b = c.BlockSizeFor(InFeatures);
        int rows = c.BlockShare ? 1 : InFeatures / b;
        // COFT's radius: eps / √(rows of oft_R), PEFT's eps / sqrt(oft_R.shape[0]).
        SetState(context.Name, new OftSettings(b, c.UseCayleyNeumann, c.NumCayleyNeumannTerms, c.Coft ? c.Eps / Math.Sqrt(rows) : null));
        int[] shape = [rows, SkewCayley.UpperCount(b)];
        // PEFT: zeros (R = I); init_weights = false draws N(0, 0.1²).
        AddModule("oft_R", context.Name, new OftRotation(c.InitWeights ? Tensor.Zeros(shape) : Tensor.Randn(shape, 0, 0.1, generator: context.Generator)));
    }

    /// <summary>
    /// The rotations R [nb or 1, b, b] of adapter <paramref name="name"/>. With coft the vectors are first projected
    /// in place (outside autograd), as PEFT's forward and get_weight do.
    /// </summary>
    public Tensor Rotations(string name)
    {
        var s = State<OftSettings>(name);
        var w = Vectors(name);
        if (s.CoftRadius is { } radius)
            using (Autograd.Autograd.NoGrad()) w.CopyFrom(SkewCayley.ProjectToBall(w.Detach(), s.BlockSize, radius));
        return SkewCayley.Rotation(SkewCayley.SkewFromUpper(w, s.BlockSize), s.Neumann, s.Terms);
    }

    /// <summary>R_bd [in, in], the block-diagonal rotation (every block the shared one with block_share).</summary>
    public Tensor BlockDiagonal(string name)
    {
        var eye = Tensor.Eye(InFeatures, dtype: Vectors(name).DType).To(Vectors(name).Device);
        return SkewCayley.RotateBlocks(eye, Rotations(name));
    }

    /// <summary>W R_bdᵀ; the bias is unchanged.</summary>
    public override (Tensor Weight, Tensor? Bias) Transform(string name, Tensor weight, Tensor? bias) =>
        (SkewCayley.RotateBlocks(weight, Rotations(name).MT), bias);

    /// <summary>W R_bd⁻ᵀ, block by block (PEFT's unmerge multiplies by torch.linalg.inv of R_bd).</summary>
    public override (Tensor Weight, Tensor? Bias) InverseTransform(string name, Tensor weight, Tensor? bias) =>
        (SkewCayley.RotateBlocks(weight, SkewCayley.InverseBlocks(Rotations(name)).MT), bias);

    /// <summary>
    /// Rotates the input instead of forming W': the last active adapter's rotation first, so that several active
    /// adapters give the merged weight's output (W R_1ᵀ R_2ᵀ); PEFT's unmerged forward applies them the other way
    /// round, which disagrees with its own merge. One adapter is the same either way.
    /// </summary>
    protected override Tensor ForwardAdapters(Tensor input, IReadOnlyList<string> adapters)
    {
        var x = input;
        for (int i = adapters.Count - 1; i >= 0; i--) x = SkewCayley.RotateBlocks(x, Rotations(adapters[i]));
        return BaseLayer.Forward(x);
    }
}
