namespace Engine.Peft.Spectral;

/// <summary>
/// A <see cref="Linear"/> with FourierFT adapters (PEFT's <c>fourierft.FourierFTLinear</c>): the spectrum F [out, in]
/// is zero except the trainable coefficients <c>fourierft_spectrum</c> [n] at the positions of
/// <see cref="SparseSpectrumPositions"/>, and ΔW = scaling · Re(IFFT2(F)) = scaling (C_out F C_in − S_out F S_in) / (out · in)
/// with the DFT matrices of <see cref="RealDft"/>; y = base(x) + x ΔWᵀ.
/// </summary>
public sealed class FourierFtLayer : AdditiveAdapterLayer
{
    sealed record Settings(long[] Positions, double Scaling);

    readonly TensorCache _cache = new();

    /// <summary>Wraps <paramref name="baseLayer"/>.</summary>
    public FourierFtLayer(Linear baseLayer) : base(baseLayer) { }

    /// <summary>The trainable coefficients [n].</summary>
    public Tensor Spectrum(string name) => Parameter("fourierft_spectrum", name);

    /// <summary>The flat positions (row · in + col) of the coefficients in the [out, in] spectrum.</summary>
    public IReadOnlyList<long> Positions(string name) => State<Settings>(name).Positions;

    /// <inheritdoc/>
    public override IEnumerable<PlannedTensor> PlanAdapter(AdapterContext context)
    {
        int n = context.ConfigAs<FourierFtConfig>().CoefficientsFor(context.Path, OutFeatures, InFeatures);
        return [Planned("fourierft_spectrum", null, n)];
    }

    /// <inheritdoc/>
    protected override void CreateAdapter(AdapterContext context)
    {
        var c = context.ConfigAs<FourierFtConfig>();
        int n = c.CoefficientsFor(context.Path, OutFeatures, InFeatures);
        SetState(context.Name, new Settings(SparseSpectrumPositions.Draw(OutFeatures, InFeatures, n, c.RandomLocSeed), c.Scaling));
        var dtype = BaseLayer.Weight.DType;
        AddParameter("fourierft_spectrum", context.Name, c.InitWeights ? Tensor.Zeros([n], dtype) : Tensor.Randn([n], 0, 1, dtype, context.Generator));
    }

    /// <inheritdoc/>
    protected override void OnRemoving(string name) => _cache.Remove(name + "/");

    /// <summary>scaling · Re(IFFT2(F)) [out, in].</summary>
    public override Tensor DeltaWeight(string name)
    {
        var s = State<Settings>(name);
        var c = Spectrum(name);
        var positions = _cache.Get(name + "/positions", c.Device, DType.Int64, () => Tensor.FromArray(s.Positions));
        var f = SparseDelta.Dense(c, positions, OutFeatures, InFeatures);
        var cosOut = _cache.Get($"dft/cos{OutFeatures}", c.Device, c.DType, () => RealDft.Matrix(OutFeatures, sine: false));
        var sinOut = _cache.Get($"dft/sin{OutFeatures}", c.Device, c.DType, () => RealDft.Matrix(OutFeatures, sine: true));
        var cosIn = _cache.Get($"dft/cos{InFeatures}", c.Device, c.DType, () => RealDft.Matrix(InFeatures, sine: false));
        var sinIn = _cache.Get($"dft/sin{InFeatures}", c.Device, c.DType, () => RealDft.Matrix(InFeatures, sine: true));
        return (cosOut % f % cosIn - sinOut % f % sinIn) * (s.Scaling / ((double)OutFeatures * InFeatures));
    }
}
