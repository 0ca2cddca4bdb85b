namespace Engine.Peft.Spectral;

/// <summary>
/// A <see cref="Linear"/> with WaveFT adapters (PEFT's <c>waveft.WaveFTLinear</c>): the trainable coefficients
/// <c>waveft_spectrum</c> [n] sit at the positions of <see cref="SparseSpectrumPositions"/> in a grid padded to even
/// sides (db1 pads by nothing else and places at offset 0), ΔW = scaling · <see cref="HaarWavelet.Inverse"/>(grid)
/// cropped to [out, in] (use_idwt), or scaling · the sparse grid itself; y = base(x) + x ΔWᵀ.
/// </summary>
public sealed class WaveFtLayer : AdditiveAdapterLayer
{
    sealed record Settings(long[] GridPositions, int Rows, int Cols, double Scaling, bool UseIdwt);

    readonly TensorCache _cache = new();

    /// <summary>Wraps <paramref name="baseLayer"/>.</summary>
    public WaveFtLayer(Linear baseLayer) : base(baseLayer) { }

    /// <summary>The trainable coefficients [n].</summary>
    public Tensor Spectrum(string name) => Parameter("waveft_spectrum", name);

    /// <inheritdoc/>
    public override IEnumerable<PlannedTensor> PlanAdapter(AdapterContext context)
    {
        int n = context.ConfigAs<WaveFtConfig>().CoefficientsFor(context.Path, OutFeatures, InFeatures);
        return [Planned("waveft_spectrum", null, n)];
    }

    /// <inheritdoc/>
    protected override void CreateAdapter(AdapterContext context)
    {
        var c = context.ConfigAs<WaveFtConfig>();
        int n = c.CoefficientsFor(context.Path, OutFeatures, InFeatures);
        var flat = SparseSpectrumPositions.Draw(OutFeatures, InFeatures, n, c.RandomLocSeed);
        // db1 reduces nothing: the grid is [out, in] rounded up to even sides, coefficients at offset 0.
        int rows = c.UseIdwt ? OutFeatures + OutFeatures % 2 : OutFeatures;
        int cols = c.UseIdwt ? InFeatures + InFeatures % 2 : InFeatures;
        var grid = flat.Select(p => p / InFeatures * cols + p % InFeatures).ToArray();
        SetState(context.Name, new Settings(grid, rows, cols, c.Scaling, c.UseIdwt));
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
        var grid = SparseSpectrumPositions.Scatter(c, positions, s.Rows, s.Cols);
        if (!s.UseIdwt) return grid * s.Scaling;
        var w = HaarWavelet.Inverse(grid);
        if (s.Rows != OutFeatures || s.Cols != InFeatures) w = w.Narrow(0, 0, OutFeatures).Narrow(1, 0, InFeatures);
        return w * s.Scaling;
    }
}
