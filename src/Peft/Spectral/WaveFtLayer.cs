namespace Engine.Peft.Spectral;

/// <summary>
/// A <see cref="Linear"/> with WaveFT adapters (PEFT's <c>waveft.WaveFTLinear</c>): the trainable coefficients
/// <c>waveft_spectrum</c> [n] sit at the positions of <see cref="SparseSpectrumPositions"/> in a grid padded to even
/// grown by the wavelet's reduction L − 2 and rounded up to even sides, centred as PEFT centres them, ΔW = scaling ·
/// <see cref="WaveletTransform.Inverse2d"/>(grid) cropped to [out, in] about its centre (use_idwt), or scaling · the
/// sparse [out, in] grid itself; y = base(x) + x ΔWᵀ.
/// </summary>
public sealed class WaveFtLayer : AdditiveAdapterLayer
{
    sealed record Settings(long[] GridPositions, int Rows, int Cols, double Scaling, bool UseIdwt, string Family);

    readonly TensorCache _cache = new();

    /// <summary>Wraps <paramref name="baseLayer"/>.</summary>
    public WaveFtLayer(Linear baseLayer) : base(baseLayer) { }

    /// <summary>The trainable coefficients [n].</summary>
    public Tensor Spectrum(string name) => Parameter("waveft_spectrum", name);

    /// <inheritdoc/>
    public override IEnumerable<PlannedTensor> PlanAdapter(AdapterContext context)
    {
        int n = context.ConfigAs<WaveFtConfig>().CoefficientsFor(context, OutFeatures, InFeatures);
        return [Planned("waveft_spectrum", null, n)];
    }

    /// <inheritdoc/>
    protected override void CreateAdapter(AdapterContext context)
    {
        var c = context.ConfigAs<WaveFtConfig>();
        int n = c.CoefficientsFor(context, OutFeatures, InFeatures);
        var flat = SparseSpectrumPositions.Draw(OutFeatures, InFeatures, n, c.RandomLocSeed);
        // PEFT's get_delta_weight: the grid grows by the wavelet's reduction, rounds up to even sides, and holds the
        // coefficients centred ((padded − size) / 2 from the top and left).
        int reduction = c.UseIdwt ? WaveletTransform.Reduction(c.WaveletFamily) : 0;
        int rows = OutFeatures + reduction, cols = InFeatures + reduction;
        if (c.UseIdwt) { rows += rows % 2; cols += cols % 2; }
        int top = (rows - OutFeatures) / 2, left = (cols - InFeatures) / 2;
        var grid = flat.Select(p => (p / InFeatures + top) * cols + p % InFeatures + left).ToArray();
        SetState(context.Name, new Settings(grid, rows, cols, c.Scaling, c.UseIdwt, c.WaveletFamily));
        var dtype = BaseLayer.Weight.DType;
        AddParameter("waveft_spectrum", context.Name, c.InitWeights ? Tensor.Zeros([n], dtype) : Tensor.Randn([n], 0, 0.01, dtype, context.Generator));
    }

    /// <inheritdoc/>
    protected override void OnRemoving(string name) => _cache.Remove(name + "/");

    /// <summary>scaling · IDWT2(grid) cropped to [out, in] (or scaling · grid without use_idwt).</summary>
    public override Tensor DeltaWeight(string name)
    {
        var s = State<Settings>(name);
        var c = Spectrum(name);
        var positions = _cache.Get(name + "/positions", c.Device, DType.Int64, () => Tensor.FromArray(s.GridPositions));
        var grid = SparseDelta.Dense(c, positions, s.Rows, s.Cols);
        if (!s.UseIdwt) return grid * s.Scaling;
        var w = WaveletTransform.Inverse2d(grid, s.Family);
        // The reconstruction is [out, in] plus one row or column where the grid was rounded up: cropped about its centre.
        if (w.Size(0) != OutFeatures || w.Size(1) != InFeatures)
            w = w.Narrow(0, (w.Size(0) - OutFeatures) / 2, OutFeatures).Narrow(1, (w.Size(1) - InFeatures) / 2, InFeatures);
        return w * s.Scaling;
    }
}
