using MathNet.Numerics.Distributions;

namespace Engine.Peft.LowRank;

/// <summary>How <see cref="NormalFloatQuantizer"/> places its levels and scales its blocks.</summary>
public enum QuantizationKind
{
    /// <summary>NormalFloat (Dettmers et al. 2023, QLoRA section 3): levels at quantiles of N(0, 1), each block scaled by its largest |w|.</summary>
    Normal,

    /// <summary>Evenly spaced levels in [-1, 1], each block scaled by mean + 2.5 std (PEFT's <c>method="uniform"</c>).</summary>
    Uniform,
}

/// <summary>
/// Block-wise quantisation of a weight to a table of 2^bits levels, as PEFT's <c>NFQuantizer</c> (loftq_utils.py
/// before PEFT 0.20, which LoftQ used without bitsandbytes; PEFT 0.20 quantises 4 bits with bitsandbytes' NF4, whose
/// table and absmax blocks of 64 are the same): the weight is read row-major in blocks of <see cref="BlockSize"/>
/// values; a block's scale is max |w| (<see cref="QuantizationKind.Normal"/>) or mean + 2.5 std
/// (<see cref="QuantizationKind.Uniform"/>, unbiased std); a value's code is the level nearest to w / scale (the
/// lowest on ties, as torch.argmin); dequantising gives level[code] · scale, in Float32. Codes are kept one per byte
/// (PEFT packs 8 / bits of them into a byte; unpacking gives the same codes). A last partial block gets its own scale,
/// as bitsandbytes does (PEFT's NFQuantizer refused such sizes).
/// <code>var q = new NormalFloatQuantizer(4); var fake = q.FakeQuantize(weight); // the dequantised NF4 weight</code>
/// </summary>
public sealed class NormalFloatQuantizer
{
    /// <summary>PEFT's and bitsandbytes' block size.</summary>
    public const int DefaultBlockSize = 64;

    /// <summary>The outermost quantile of the normal table (PEFT's and bitsandbytes' <c>create_normal_map</c> offset).</summary>
    public const float NormalOffset = 0.9677083f;

    readonly float[] _table;

    /// <summary>A quantiser of <paramref name="bits"/> bits (2, 4 or 8: 8 / bits codes fill a byte, as PEFT packs them).</summary>
    public NormalFloatQuantizer(int bits, QuantizationKind kind = QuantizationKind.Normal, int blockSize = DefaultBlockSize)
    {
        if (bits is not (2 or 4 or 8)) throw new ArgumentException($"NormalFloatQuantizer: bits must be 2, 4 or 8, got {bits}");
        if (blockSize < 1) throw new ArgumentException($"NormalFloatQuantizer: block size must be positive, got {blockSize}");
        Bits = bits;
        Kind = kind;
        BlockSize = blockSize;
        _table = kind == QuantizationKind.Normal ? NormalTable(bits) : UniformTable(bits);
    }

    /// <summary>Bits per code.</summary>
    public int Bits { get; }

    /// <summary>The table's kind and the blocks' scale.</summary>
    public QuantizationKind Kind { get; }

    /// <summary>Values per block.</summary>
    public int BlockSize { get; }

    /// <summary>The 2^bits levels, ascending.</summary>
    public IReadOnlyList<float> Table => _table;

    /// <summary>
    /// PEFT's <c>create_normal_map</c> (asymmetric; QLoRA's NF construction with one more positive level):
    /// Φ⁻¹ of 2^bits / 2 evenly spaced points from <see cref="NormalOffset"/> towards 0.5 (0.5 left out), 0, and
    /// −Φ⁻¹ of 2^bits / 2 − 1 such points, each rounded to Float32, sorted and divided by the largest. The points are
    /// torch.linspace's Float32 values (<see cref="Linspace"/>). For 4 bits this is bitsandbytes' NF4 code bit for bit.
    /// </summary>
    public static float[] NormalTable(int bits)
    {
        int half = (1 << bits) / 2;
        var values = new List<float>();
        foreach (float p in Linspace(NormalOffset, 0.5f, half + 1)[..^1]) values.Add((float)Normal.InvCDF(0, 1, p));
        values.Add(0f);
        foreach (float p in Linspace(NormalOffset, 0.5f, half)[..^1]) values.Add((float)-Normal.InvCDF(0, 1, p));
        values.Sort();
        float max = values[^1];
        return values.Select(v => v / max).ToArray();
    }

    /// <summary>PEFT's <c>create_uniform_map</c> (asymmetric): torch.linspace(-1, 1, 2^bits) in Float32.</summary>
    public static float[] UniformTable(int bits) => Linspace(-1f, 1f, 1 << bits);

    /// <summary>
    /// torch.linspace(start, end, steps) in Float32 by its scalar rule: step = (end − start) / (steps − 1), the first
    /// half start + step · i, the second end − step · (steps − 1 − i). PyTorch's vectorised kernel (16 or more points)
    /// can differ from this by an ulp; the tables of 2 and 4 bits, PEFT's and LoftQ's, use the scalar path.
    /// </summary>
    public static float[] Linspace(float start, float end, int steps)
    {
        var result = new float[steps];
        if (steps == 1) result[0] = start;
        if (steps < 2) return result;
        float step = (end - start) / (steps - 1);
        int halfway = steps / 2;
        for (int i = 0; i < steps; i++) result[i] = i < halfway ? start + step * i : end - step * (steps - i - 1);
        return result;
    }

    /// <summary>The code of every value (row-major) and the scale of every block.</summary>
    public (byte[] Codes, float[] Scales) Quantize(ReadOnlySpan<float> values)
    {
        var codes = new byte[values.Length];
        var scales = new float[(values.Length + BlockSize - 1) / BlockSize];
        for (int blk = 0; blk < scales.Length; blk++)
        {
            int start = blk * BlockSize;
            var block = values.Slice(start, Math.Min(BlockSize, values.Length - start));
            float scale = Kind == QuantizationKind.Normal ? AbsMax(block) : MeanPlusStd(block);
            scales[blk] = scale;
            for (int i = 0; i < block.Length; i++) codes[start + i] = Nearest(block[i] / scale);
        }
        return (codes, scales);
    }

    /// <summary>level[code] · scale of its block, row-major.</summary>
    public float[] Dequantize(ReadOnlySpan<byte> codes, ReadOnlySpan<float> scales)
    {
        if (scales.Length != (codes.Length + BlockSize - 1) / BlockSize)
            throw new ArgumentException($"NormalFloatQuantizer: {codes.Length} codes need {(codes.Length + BlockSize - 1) / BlockSize} block scales, got {scales.Length}");
        var values = new float[codes.Length];
        for (int i = 0; i < codes.Length; i++) values[i] = _table[codes[i]] * scales[i / BlockSize];
        return values;
    }

    /// <summary>The dequantised quantisation of <paramref name="weight"/> (Float32, same shape, on the CPU), blocks over its row-major values.</summary>
    public Tensor FakeQuantize(Tensor weight)
    {
        var values = weight.Detach().To(Device.Cpu).To(DType.Float32).Contiguous().ToArray<float>();
        var (codes, scales) = Quantize(values);
        return Tensor.FromArray(Dequantize(codes, scales), weight.Shape.ToArray());
    }

    // torch.argmin(|x - table|): the first level of the smallest distance; a NaN (an all-zero block: 0 / 0) gives code 0, as torch.
    byte Nearest(float x)
    {
        int best = 0;
        float bestDistance = Math.Abs(x - _table[0]);
        for (int j = 1; j < _table.Length; j++)
        {
            float d = Math.Abs(x - _table[j]);
            if (d < bestDistance) { best = j; bestDistance = d; }
        }
        return (byte)best;
    }

    static float AbsMax(ReadOnlySpan<float> block)
    {
        float max = 0;
        foreach (float v in block) max = Math.Max(max, Math.Abs(v));
        return max;
    }

    // mean + 2.5 std (unbiased), each rounded to Float32 as torch's float reductions give them (to an ulp).
    static float MeanPlusStd(ReadOnlySpan<float> block)
    {
        double sum = 0;
        foreach (float v in block) sum += v;
        double mean = sum / block.Length;
        double squares = 0;
        foreach (float v in block) squares += (v - mean) * (v - mean);
        float std = (float)Math.Sqrt(squares / (block.Length - 1));
        return (float)mean + 2.5f * std;
    }
}
