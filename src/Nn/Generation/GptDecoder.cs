using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using Engine.Backends.Cpu;

namespace Engine.Nn;

/// <summary>
/// One-token-at-a-time decoding of a plain <see cref="Gpt"/> at batch 1 on the CPU in float32: what
/// <see cref="Sampling.Generate(Gpt, Tensor, int, SamplingOptions, Generator?, int?, KvCache?)"/> runs when it applies.
/// A decoding step is a handful of matrix-vector products, so the general path's cost is all per-op overhead (a tensor,
/// a dispatch and a shape check per op, some 160 ops per token, and a concatenation of the whole cache per layer).
/// Here keys and values go into buffers sized once, every activation has a preallocated row, the weight products run
/// on the calling thread through <see cref="PackedGemm"/>'s short-A path (the kernel the general path uses for them),
/// attention is one vectorised pass per head over the cached keys (stored transposed) and values, and LayerNorm, GELU
/// and softmax work on one row in place. A step allocates nothing.
/// <code>
/// using var _ = Autograd.Autograd.NoGrad();
/// var decoder = GptDecoder.TryCreate(gpt, capacity: 64) ?? throw ...;   // null: an adapter or a config it does not cover
/// var logits = decoder.Step(token);                                      // [VocabSize], valid until the next step
/// </code>
/// </summary>
/// <remarks>
/// It reads the model's parameter tensors in place, so it sees their values at each step; build one per generation.
/// It covers attention mixers (grouped-query and rotary included), dense tanh-GELU MLPs, sequential or parallel blocks,
/// tied or untied heads. Any other mixer or feed-forward, the exact GELU, a wrapped (adapter) or substituted module
/// anywhere, or a parameter that is not a contiguous float32 CPU tensor makes <see cref="TryCreate"/> return null.
/// </remarks>
public sealed unsafe class GptDecoder
{
    // A parameter's values in place: its storage array and the tensor's offset into it. The storage is held too: an
    // unreachable storage hands its array back to CpuArrayPool, which would give it to another tensor.
    readonly record struct Values(float[] Data, int Offset, CpuStorage Owner);

    sealed record LinearValues(Values Weight, Values? Bias, int In, int Out);

    sealed record NormValues(Values Weight, Values Bias, float Eps);

    sealed record LayerValues(NormValues Ln1, NormValues? Ln2, LinearValues Qkv, LinearValues AttnProj, LinearValues Fc, LinearValues MlpProj, float[] Keys, float[] Values);

    readonly GptConfig _config;
    readonly Values _tok;
    readonly Values? _pos;
    readonly LayerValues[] _layers;
    readonly NormValues _lnF;
    readonly LinearValues _head;
    readonly int _heads, _kvHeads, _headDim, _width;
    // Activations: the residual stream, a LayerNorm's output, q|k|v, the heads' outputs, the MLP's hidden row,
    // a sublayer's output, the attention scores, the rotary angles' cosines and sines, and the logits.
    readonly float[] _x, _normed, _qkv, _attention, _hidden, _sublayer, _sublayer2, _scores, _cos, _sin, _logits;

    GptDecoder(GptConfig config, Values tok, Values? pos, LayerValues[] layers, NormValues lnF, LinearValues head, int capacity)
    {
        _config = config;
        _tok = tok;
        _pos = pos;
        _layers = layers;
        _lnF = lnF;
        _head = head;
        _width = config.DModel;
        _heads = config.Heads;
        _kvHeads = config.KvHeads ?? config.Heads;
        _headDim = _width / _heads;
        Capacity = capacity;
        _x = new float[_width];
        _normed = new float[_width];
        _qkv = new float[layers.Length == 0 ? 0 : layers[0].Qkv.Out];
        _attention = new float[_width];
        _hidden = new float[layers.Length == 0 ? 0 : layers[0].Fc.Out];
        _sublayer = new float[_width];
        _sublayer2 = new float[_width];
        _scores = new float[capacity];
        _cos = new float[_headDim];
        _sin = new float[_headDim];
        _logits = new float[config.VocabSize];
    }

    /// <summary>Positions decoded so far (the cache's length).</summary>
    public int Length { get; private set; }

    /// <summary>Most positions this decoder holds (its key/value buffers' length).</summary>
    public int Capacity { get; }

    /// <summary>
    /// A decoder for <paramref name="model"/> with room for <paramref name="capacity"/> positions, or null when the model
    /// is not one it covers (see remarks): the caller then takes the general path. The model should be in evaluation mode.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="capacity"/> is below 1, or beyond the learned position table.</exception>
    public static GptDecoder? TryCreate(Gpt model, int capacity)
    {
        var config = model.Config;
        if (capacity < 1 || (!config.Rotary && capacity > config.ContextLength))
            throw new ArgumentOutOfRangeException(nameof(capacity), $"GptDecoder: capacity {capacity} must be in [1, {(config.Rotary ? int.MaxValue : config.ContextLength)}]");
        if (config.Moe is not null || config.Layers < 1) return null;
        int width = config.DModel, kvHeads = config.KvHeads ?? config.Heads, headDim = width / config.Heads;
        if (config.Rotary && headDim % 2 != 0) return null;
        // The key/value buffers are plain arrays: refuse what would not fit one.
        if ((long)kvHeads * headDim * capacity > Array.MaxLength) return null;

        if (Exact<Embedding>(model, "tok") is not { } tok || Table(tok.Weight, config.VocabSize, width) is not { } tokValues) return null;
        Values? pos = null;
        if (!config.Rotary)
        {
            if (Exact<Embedding>(model, "pos") is not { } posModule || Table(posModule.Weight, config.ContextLength, width) is not { } posValues) return null;
            pos = posValues;
        }
        if (Exact<Dropout>(model, "drop") is null || Exact<LayerNorm>(model, "ln_f") is not { } lnFModule || Norm(lnFModule, width) is not { } lnF) return null;
        LinearValues? head;
        if (Find(model, "head") is null) head = config.TiedHead ? new LinearValues(tokValues, null, width, config.VocabSize) : null;
        else head = Exact<Linear>(model, "head") is { } headModule ? Projection(headModule, width, config.VocabSize) : null;
        if (head is null) return null;

        if (Exact<ModuleList<TransformerBlock>>(model, "blocks") is not { } blocks || blocks.Children().Count() != config.Layers) return null;
        var layers = new LayerValues[config.Layers];
        for (int i = 0; i < layers.Length; i++)
        {
            if (Exact<TransformerBlock>(blocks, i.ToString(System.Globalization.CultureInfo.InvariantCulture)) is not { } block
                || Layer(block, config, width, kvHeads * headDim * capacity) is not { } layer) return null;
            layers[i] = layer;
        }
        return new GptDecoder(config, tokValues, pos, layers, lnF, head, capacity);
    }

    static LayerValues? Layer(TransformerBlock block, GptConfig config, int width, int cacheLength)
    {
        if (block.Parallel != config.ParallelBlocks || block.FeedForwardName != TransformerBlock.MlpSlot) return null;
        if (Exact<LayerNorm>(block, "ln1") is not { } ln1Module || Norm(ln1Module, width) is not { } ln1) return null;
        NormValues? ln2 = null;
        if (!block.Parallel && (Exact<LayerNorm>(block, "ln2") is not { } ln2Module || (ln2 = Norm(ln2Module, width)) is null)) return null;
        if (Exact<MultiHeadAttention>(block, block.MixerName) is not { } attn) return null;
        var o = attn.Options;
        if (!o.Causal || o.Rotary != config.Rotary || o.DModel != width || o.Heads != config.Heads || attn.KvHeads != (config.KvHeads ?? config.Heads)) return null;
        if (Exact<Dropout>(attn, "attn_dropout") is null || Exact<Dropout>(attn, "dropout") is null) return null;
        if (Exact<Linear>(attn, "qkv") is not { } qkvModule || Projection(qkvModule, width, (o.Heads + 2 * attn.KvHeads) * attn.HeadDim) is not { } qkv) return null;
        if (Exact<Linear>(attn, "proj") is not { } projModule || Projection(projModule, width, width) is not { } proj) return null;
        if (Exact<Mlp>(block, TransformerBlock.MlpSlot) is not { } mlp || mlp.Activation is not GELU { TanhApproximation: true } || Exact<Dropout>(mlp, "dropout") is null) return null;
        if (Exact<Linear>(mlp, "fc") is not { } fcModule || Projection(fcModule, width, fcModule.OutFeatures) is not { } fc) return null;
        if (Exact<Linear>(mlp, "proj") is not { } mlpProjModule || Projection(mlpProjModule, fc.Out, width) is not { } mlpProj) return null;
        return new LayerValues(ln1, ln2, qkv, proj, fc, mlpProj, new float[cacheLength], new float[cacheLength]);
    }

    // The child registered under name when it is exactly a T: a wrapper (an adapter) or a subclass means the general path.
    static T? Exact<T>(Module parent, string name) where T : Module => Find(parent, name) is { } m && m.GetType() == typeof(T) ? (T)m : null;

    static Module? Find(Module parent, string name)
    {
        foreach (var (n, m) in parent.Children()) if (n == name) return m;
        return null;
    }

    static LinearValues? Projection(Linear linear, int inFeatures, int outFeatures)
    {
        if (Table(linear.Weight, outFeatures, inFeatures) is not { } weight) return null;
        Values? bias = null;
        if (linear.Bias is { } b && (bias = Row(b, outFeatures)) is null) return null;
        return new LinearValues(weight, bias, inFeatures, outFeatures);
    }

    static NormValues? Norm(LayerNorm norm, int width) =>
        Row(norm.Weight, width) is { } w && Row(norm.Bias, width) is { } b ? new NormValues(w, b, (float)norm.Eps) : null;

    static Values? Table(Tensor t, int rows, int cols) => t.Rank == 2 && t.Size(0) == rows && t.Size(1) == cols ? InPlace(t) : null;

    static Values? Row(Tensor t, int length) => t.Rank == 1 && t.Size(0) == length ? InPlace(t) : null;

    static Values? InPlace(Tensor t) =>
        t.DType == DType.Float32 && t.IsContiguous && t.Storage is CpuStorage { Data: float[] data } storage ? new Values(data, (int)t.Offset, storage) : null;

    /// <summary>
    /// Feeds <paramref name="token"/> at position <see cref="Length"/> and returns the logits [VocabSize] for the next
    /// position: a view of this decoder's buffer, overwritten by the next step.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The token is not a valid id, or the decoder is full.</exception>
    public ReadOnlySpan<float> Step(long token)
    {
        if ((ulong)token >= (ulong)_config.VocabSize)
            throw new ArgumentOutOfRangeException(nameof(token), $"GptDecoder: token {token} is not in [0, {_config.VocabSize})");
        if (Length >= Capacity)
            throw new InvalidOperationException($"GptDecoder: all {Capacity} positions are used");
        int p = Length, c = _width;
        var x = _x.AsSpan();
        _tok.Data.AsSpan(_tok.Offset + (int)token * c, c).CopyTo(x);
        if (_pos is { } pos) TensorPrimitives.Add(x, pos.Data.AsSpan(pos.Offset + p * c, c), x);
        if (_config.Rotary) RotaryAngles(p);
        foreach (var layer in _layers)
        {
            LayerNorm(x, layer.Ln1, _normed);
            if (layer.Ln2 is null)
            {
                // Parallel block: x + mixer(ln1(x)) + mlp(ln1(x)), added in that order as the general path does.
                Attention(layer, p, _normed, _sublayer);
                FeedForward(layer, _normed, _sublayer2);
                TensorPrimitives.Add(x, _sublayer, x);
                TensorPrimitives.Add(x, _sublayer2, x);
            }
            else
            {
                Attention(layer, p, _normed, _sublayer);
                TensorPrimitives.Add(x, _sublayer, x);
                LayerNorm(x, layer.Ln2, _normed);
                FeedForward(layer, _normed, _sublayer);
                TensorPrimitives.Add(x, _sublayer, x);
            }
        }
        LayerNorm(x, _lnF, _normed);
        MatVec(_head, _normed, _logits);
        Length = p + 1;
        return _logits;
    }

    // Vaswani et al. 2017, section 3.2, for the one new query against every cached key: per head,
    // softmax(q K^T / sqrt(D)) V, then the output projection.
    void Attention(LayerValues layer, int p, float[] input, float[] output)
    {
        int h = _heads, kv = _kvHeads, d = _headDim, group = h / kv, keys = p + 1;
        MatVec(layer.Qkv, input, _qkv);
        if (_config.Rotary)
        {
            for (int i = 0; i < h; i++) Rotate(_qkv.AsSpan(i * d, d));
            for (int g = 0; g < kv; g++) Rotate(_qkv.AsSpan((h + g) * d, d));
        }
        // Values are [kv heads, capacity, D] (position p of a head is one row); keys are [kv heads, D, capacity], so
        // that both products stream rows of their matrix (no dot-product reductions over a head's 32 or 64 values).
        for (int g = 0; g < kv; g++)
        {
            var key = _qkv.AsSpan((h + g) * d, d);
            int column = g * d * Capacity + p;
            for (int j = 0; j < d; j++) layer.Keys[column + j * Capacity] = key[j];
            _qkv.AsSpan((h + kv + g) * d, d).CopyTo(layer.Values.AsSpan((g * Capacity + p) * d, d));
        }
        float scale = (float)(1 / Math.Sqrt(d));
        for (int i = 0; i < h; i++)
        {
            // Each group of h / kv query heads shares one key/value head (Ainslie et al. 2023).
            int head = i / group * Capacity * d;
            AttendOneHead(_qkv.AsSpan(i * d, d), scale, layer.Keys.AsSpan(head, d * Capacity), layer.Values.AsSpan(head, keys * d), keys, _scores.AsSpan(0, keys), _attention.AsSpan(i * d, d));
        }
        MatVec(layer.AttnProj, _attention, output);
    }

    // One head: scores = scale q K^T against K^T [D, capacity] (row j: feature j of every key), softmax, then
    // y = scores V against V [keys, D]. Both loops run along rows, vectorised, with no horizontal sums.
    static void AttendOneHead(ReadOnlySpan<float> q, float scale, ReadOnlySpan<float> keysT, ReadOnlySpan<float> values, int keys, Span<float> scores, Span<float> y)
    {
        int d = q.Length, capacity = keysT.Length / d, w = Vector<float>.Count, wide = keys - keys % w;
        scores.Clear();
        var sv = MemoryMarshal.Cast<float, Vector<float>>(scores[..wide]);
        for (int j = 0; j < d; j++)
        {
            var row = keysT.Slice(j * capacity, keys);
            float qj = q[j] * scale;
            var rv = MemoryMarshal.Cast<float, Vector<float>>(row[..wide]);
            var qv = new Vector<float>(qj);
            for (int c = 0; c < sv.Length; c++) sv[c] = Vector.FusedMultiplyAdd(qv, rv[c], sv[c]);
            for (int t = wide; t < keys; t++) scores[t] = MathF.FusedMultiplyAdd(qj, row[t], scores[t]);
        }
        Softmax(scores);
        // Two running sums per slice of features (even and odd keys) halve the dependency chain of the FMAs.
        int dWide = d - d % w;
        for (int f = 0; f < dWide; f += w)
        {
            Vector<float> even = default, odd = default;
            int t = 0;
            for (; t + 1 < keys; t += 2)
            {
                even = Vector.FusedMultiplyAdd(new Vector<float>(scores[t]), new Vector<float>(values.Slice(t * d + f, w)), even);
                odd = Vector.FusedMultiplyAdd(new Vector<float>(scores[t + 1]), new Vector<float>(values.Slice((t + 1) * d + f, w)), odd);
            }
            if (t < keys) even = Vector.FusedMultiplyAdd(new Vector<float>(scores[t]), new Vector<float>(values.Slice(t * d + f, w)), even);
            (even + odd).CopyTo(y.Slice(f, w));
        }
        for (int f = dWide; f < d; f++)
        {
            float sum = 0;
            for (int t = 0; t < keys; t++) sum = MathF.FusedMultiplyAdd(scores[t], values[t * d + f], sum);
            y[f] = sum;
        }
    }

    void FeedForward(LayerValues layer, float[] input, float[] output)
    {
        MatVec(layer.Fc, input, _hidden);
        GeluTanhFloat.Forward(_hidden, _hidden); // the same kernel as the tensor op, so decoding matches Forward
        MatVec(layer.MlpProj, _hidden, output);
    }

    // y = W x + b as the general path's Addmm rounds it: the product first, then the bias added (its epilogue).
    static void MatVec(LinearValues linear, float[] x, float[] y)
    {
        int n = linear.Out, k = linear.In;
        fixed (float* w = linear.Weight.Data, px = x, py = y)
            PackedGemm.Gemm(1, n, k, 1f, px, k, 1, w + linear.Weight.Offset, 1, k, 0f, py, n, threads: 1);
        if (linear.Bias is { } b) TensorPrimitives.Add(y.AsSpan(0, n), b.Data.AsSpan(b.Offset, n), y.AsSpan(0, n));
    }

    // Ba et al. 2016, equation 4: two passes (mean, then centred squares), the same span operations as the CPU kernel.
    static void LayerNorm(ReadOnlySpan<float> x, NormValues norm, Span<float> y)
    {
        int n = x.Length;
        float mean = TensorPrimitives.Sum(x) / n;
        TensorPrimitives.Subtract(x, mean, y);
        float rstd = 1f / MathF.Sqrt(TensorPrimitives.SumOfSquares<float>(y) / n + norm.Eps);
        TensorPrimitives.Multiply(y, rstd, y);
        TensorPrimitives.Multiply(y, norm.Weight.Data.AsSpan(norm.Weight.Offset, n), y);
        TensorPrimitives.Add(y, norm.Bias.Data.AsSpan(norm.Bias.Offset, n), y);
    }

    static void Softmax(Span<float> s)
    {
        float max = TensorPrimitives.Max(s);
        TensorPrimitives.Subtract(s, max, s);
        TensorPrimitives.Exp(s, s);
        TensorPrimitives.Multiply(s, 1f / TensorPrimitives.Sum(s), s);
    }

    // Su et al. 2021 (RoFormer), equation 34, as RotaryEmbedding: angle (position) theta^(-2i/D) on pairs (i, i + D/2).
    void RotaryAngles(int position)
    {
        int d = _headDim, half = d / 2;
        for (int i = 0; i < half; i++)
        {
            double angle = position * Math.Pow(10000, -2.0 * i / d);
            _cos[i] = _cos[i + half] = (float)Math.Cos(angle);
            _sin[i] = _sin[i + half] = (float)Math.Sin(angle);
        }
    }

    void Rotate(Span<float> v)
    {
        int half = v.Length / 2;
        for (int i = 0; i < half; i++)
        {
            float a = v[i], b = v[i + half];
            v[i] = a * _cos[i] + -b * _sin[i];
            v[i + half] = b * _cos[i + half] + a * _sin[i + half];
        }
    }
}
