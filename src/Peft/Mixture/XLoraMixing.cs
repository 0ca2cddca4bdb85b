namespace Engine.Peft.Mixture;

/// <summary>
/// What the LoRA layers read during one pass of an X-LoRA forward (PEFT passes <c>scalings</c> to every LoRA layer by
/// a forward pre-hook): the scalings [B, T, L, n], each layer's number ℓ and each expert's index k. A layer then
/// takes c = scalings[:, :, ℓ, :], keeps the top_k_lora largest per token (ties: the lower index), softmaxes the kept
/// ones when enable_softmax_topk (PEFT's get_maybe_topk_scalings), and runs expert k on x ⊙ c[..., k] with its output
/// times global_scaling_weight (XLoraLinearLayer.forward). Open with <see cref="Begin"/>; per thread.
/// </summary>
public sealed class XLoraMixing
{
    [ThreadStatic] static XLoraMixing? _current;

    readonly IReadOnlyDictionary<AdapterLayer, int> _layers;
    readonly IReadOnlyDictionary<string, int> _experts;
    readonly Tensor _scalings;
    readonly XLoraConfig _config;
    readonly Dictionary<AdapterLayer, Tensor> _perLayer = new(ReferenceEqualityComparer.Instance);

    /// <summary>A pass with <paramref name="scalings"/> [B, T, L, n] for the given layers and experts.</summary>
    public XLoraMixing(IReadOnlyDictionary<AdapterLayer, int> layers, IReadOnlyDictionary<string, int> experts, Tensor scalings, XLoraConfig config)
    {
        _layers = layers;
        _experts = experts;
        _scalings = scalings;
        _config = config;
    }

    /// <summary>The pass in force on this thread, or null.</summary>
    public static XLoraMixing? Current => _current;

    /// <summary>Makes <paramref name="mixing"/> the pass in force until the returned scope is disposed.</summary>
    public static IDisposable Begin(XLoraMixing mixing)
    {
        var previous = _current;
        _current = mixing;
        return new Scope(() => _current = previous);
    }

    /// <summary>
    /// Expert <paramref name="adapter"/>'s per-token input scale [B, T, 1] and output weight on <paramref name="layer"/>
    /// for <paramref name="input"/> [B, T, in], or null when the adapter is no expert of this pass or the layer not counted.
    /// </summary>
    public XLoraMix? For(AdapterLayer layer, string adapter, Tensor input)
    {
        if (!_experts.TryGetValue(adapter, out int k) || !_layers.TryGetValue(layer, out int l)) return null;
        if (input.Rank != 3 || input.Size(0) != _scalings.Size(0) || input.Size(1) != _scalings.Size(1))
            throw new InvalidOperationException($"X-LoRA: a LoRA layer received {Shapes.Format(input.Shape)}; the scalings are for [{_scalings.Size(0)}, {_scalings.Size(1)}, ...] tokens");
        if (!_perLayer.TryGetValue(layer, out var c)) _perLayer[layer] = c = LayerScalings(_scalings.Select(2, l), _config);
        return new XLoraMix(c.Narrow(2, k, 1), _config.GlobalScalingWeight);
    }

    /// <summary>One layer's mixture weights [B, T, n] after top_k_lora and enable_softmax_topk.</summary>
    public static Tensor LayerScalings(Tensor scalings, XLoraConfig config)
    {
        var s = scalings;
        if (config.TopKLora is { } k) s = s * TopKMask(s, k);
        if (config.EnableSoftmaxTopk)
        {
            var kept = s.Ne(0);
            s = Tensor.Where(kept, s.MaskedFill(kept.LogicalNot(), double.NegativeInfinity).Softmax(-1), 0.0);
        }
        return s;
    }

    /// <summary>1 where a weight is among the <paramref name="k"/> largest of its row (last dimension), else 0; ties go to the lower index.</summary>
    public static Tensor TopKMask(Tensor s, int k)
    {
        int n = s.Size(-1);
        var mine = s.Detach().Unsqueeze(-1);
        var other = s.Detach().Unsqueeze(-2);
        // Rank of i = #{j : s_j > s_i} + #{j < i : s_j = s_i}.
        var before = Tensor.Ones([n, n], s.DType, s.Device).Tril(-1).Gt(0.5);
        var ahead = other.Gt(mine).LogicalOr(other.Eq(mine).LogicalAnd(before));
        return ahead.To(s.DType).Sum(-1).Lt(k - 0.5).To(s.DType);
    }

    sealed class Scope(Action onDispose) : IDisposable
    {
        bool _done;
        public void Dispose()
        {
            if (_done) return;
            _done = true;
            onDispose();
        }
    }
}

/// <summary>An expert's per-token input scale [B, T, 1] and output weight in one X-LoRA pass.</summary>
public readonly record struct XLoraMix(Tensor Scale, double Weight);
