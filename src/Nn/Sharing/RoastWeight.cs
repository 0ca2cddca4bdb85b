namespace Engine.Nn;

/// <summary>
/// One roasted weight of randomized parameter sharing: W[k] = s·g[k]·z[h(k)] (spec adapters-other.md §16; FakeRoast's
/// <c>FakeRoast.forward</c> times <c>FakeRoastLinear.scale</c>, apd10/FakeRoast <c>FakeRoast.py</c>). z (parameter
/// <c>z</c>) is the one memory shared by every roasted layer — the same tensor registered in each —; the scale s is a
/// buffer (<c>scale</c>, saved); the maps h and g are pure functions of the mapper, the seed and the layer's offset
/// (<see cref="RpsMapping"/>), kept as host arrays and not saved. The forward is a gather (IndexSelect), whose
/// backward is the signed scatter-add ∂L/∂z[j] = Σ_{k: h(k)=j} s·g[k]·∂L/∂W[k].
/// </summary>
public sealed class RoastWeight : WeightSource
{
    readonly long[] _index;
    readonly sbyte[] _sign;
    // Index and sign tensors for the device and dtype of z (rebuilt after Module.To).
    (Device Device, DType DType, Tensor Index, Tensor Sign)? _maps;

    /// <summary>A roasted [<paramref name="outFeatures"/>, <paramref name="inFeatures"/>] weight reading <paramref name="memory"/> (1-D).</summary>
    /// <exception cref="ArgumentException">The maps do not have one entry per element or point outside the memory.</exception>
    public RoastWeight(Tensor memory, int outFeatures, int inFeatures, long[] index, sbyte[] sign, double scale, long offset)
    {
        long n = (long)outFeatures * inFeatures;
        if (memory.Rank != 1) throw new ArgumentException($"RoastWeight: the memory must be 1-D, got {Shapes.Format(memory.Shape)}");
        if (index.LongLength != n || sign.LongLength != n)
            throw new ArgumentException($"RoastWeight: the maps have {index.LongLength} indices and {sign.LongLength} signs for a [{outFeatures}, {inFeatures}] weight");
        long m = memory.Size(0);
        if (index.Any(i => i < 0 || i >= m)) throw new ArgumentException($"RoastWeight: an index lies outside the memory of {m} cells");
        OutFeatures = outFeatures;
        InFeatures = inFeatures;
        Offset = offset;
        _index = index;
        _sign = sign;
        RegisterParameter("z", memory);
        RegisterBuffer("scale", Tensor.Full([1], scale, memory.DType, memory.Device));
    }

    /// <inheritdoc/>
    public override int OutFeatures { get; }

    /// <inheritdoc/>
    public override int InFeatures { get; }

    /// <summary>The global location of the weight's first element.</summary>
    public long Offset { get; }

    /// <summary>The shared memory z (the registry's current tensor).</summary>
    public Tensor Memory => GetParameter("z");

    /// <summary>s: std of the replaced weight / σ0 (FakeRoast's req_scale / init_scale).</summary>
    public double Scale => FindBuffer().ToDoubleArray()[0];

    /// <summary>h(k) for each element, row-major.</summary>
    public IReadOnlyList<long> Index => _index;

    /// <summary>g[k] ∈ {±1} for each element, row-major.</summary>
    public IReadOnlyList<sbyte> Sign => _sign;

    /// <summary>W = s·g ⊙ z[h], reshaped to [out, in].</summary>
    public override Tensor Compute()
    {
        var z = Memory;
        if (_maps is not { } maps || maps.Device != z.Device || maps.DType != z.DType)
        {
            var index = Tensor.FromArray(_index).To(z.Device);
            var sign = Tensor.FromArray(_sign.Select(s => (float)s).ToArray()).To(z.DType).To(z.Device);
            _maps = maps = (z.Device, z.DType, index, sign);
        }
        return (z.IndexSelect(0, maps.Index) * maps.Sign * FindBuffer()).Reshape(OutFeatures, InFeatures);
    }

    Tensor FindBuffer() => NamedBuffers().First(b => b.Name == "scale").Buffer;
}
