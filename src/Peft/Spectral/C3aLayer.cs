namespace Engine.Peft.Spectral;

/// <summary>
/// A <see cref="Linear"/> with C3A adapters (PEFT's <c>c3a.C3ALinear</c>): the kernel <c>c3a_kernel</c>
/// [out / b, in / b, b] gives ΔW[m·b + j, n·b + s] = w[m, n, (s − j) mod b] / in, so block (m, n) of ΔW is the
/// circulant matrix of w[m, n] and x ΔWᵀ is PEFT's FFT circular convolution (<c>c3a/utils.py</c>); y = base(x) + x ΔWᵀ.
/// </summary>
public sealed class C3aLayer : AdditiveAdapterLayer
{
    readonly TensorCache _cache = new();

    /// <summary>Wraps <paramref name="baseLayer"/>.</summary>
    public C3aLayer(Linear baseLayer) : base(baseLayer) { }

    /// <summary>The trainable kernels [out / b, in / b, b].</summary>
    public Tensor Kernel(string name) => Parameter("c3a_kernel", name);

    /// <inheritdoc/>
    public override IEnumerable<PlannedTensor> PlanAdapter(AdapterContext context)
    {
        int b = BlockSize(context);
        return [Planned("c3a_kernel", null, OutFeatures / b, InFeatures / b, b)];
    }

    int BlockSize(AdapterContext context)
    {
        int b = context.ConfigAs<C3aConfig>().BlockSizeFor(context.Path);
        if (b < 1 || InFeatures % b != 0 || OutFeatures % b != 0)
            throw new ArgumentException($"C3aLayer: block_size {b} must divide in_features {InFeatures} and out_features {OutFeatures} at '{context.Path.External}'");
        return b;
    }

    /// <inheritdoc/>
    protected override void CreateAdapter(AdapterContext context)
    {
        var c = context.ConfigAs<C3aConfig>();
        int b = BlockSize(context);
        int[] shape = [OutFeatures / b, InFeatures / b, b];
        var dtype = BaseLayer.Weight.DType;
        var g = context.Generator;
        double xavier = Math.Sqrt(3) * Math.Sqrt(2.0 / (InFeatures + OutFeatures));
        AddParameter("c3a_kernel", context.Name, c.InitWeights switch
        {
            C3aInit.Zeros => Tensor.Zeros(shape, dtype),
            C3aInit.Gaussian => Tensor.Randn(shape, 0, 1, dtype, g),
            C3aInit.KaimingUniform => Tensor.Rand(shape, -1 / Math.Sqrt(InFeatures), 1 / Math.Sqrt(InFeatures), dtype, g),
            _ => Tensor.Rand(shape, -xavier, xavier, dtype, g),
        });
    }

    /// <summary>The flat kernel index of every entry of ΔW [out · in] for block size <paramref name="b"/>.</summary>
    long[] CirculantIndex(int b)
    {
        int n = InFeatures / b;
        var map = new long[(long)OutFeatures * InFeatures];
        for (int row = 0; row < OutFeatures; row++)
            for (int col = 0; col < InFeatures; col++)
            {
                int m = row / b, j = row % b, k = col / b, s = col % b;
                map[(long)row * InFeatures + col] = ((long)m * n + k) * b + (s - j + b) % b;
            }
        return map;
    }

    /// <summary>The block-circulant ΔW [out, in], divided by in as PEFT does.</summary>
    public override Tensor DeltaWeight(string name)
    {
        var w = Kernel(name);
        int b = w.Size(2);
        var index = _cache.Get($"circulant/{b}", w.Device, DType.Int64, () => Tensor.FromArray(CirculantIndex(b)));
        return w.Reshape(-1).IndexSelect(0, index).Reshape(OutFeatures, InFeatures) * (1.0 / InFeatures);
    }
}
