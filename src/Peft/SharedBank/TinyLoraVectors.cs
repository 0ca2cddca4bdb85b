namespace Engine.Peft.SharedBank;

/// <summary>
/// TinyLoRA's trainable vectors v [u], one per group of consecutive adapted layers (PEFT's
/// <c>_create_and_replace</c>: with N layers, G = max(1, round(N (1 - weight_tying))) groups of size max(1, N / G), layer
/// l in group min(l / size, G - 1)), under PEFT's keys <c>base_model.tinylora_v.&lt;group&gt;</c>; also each layer's index
/// l (its place among the adapter's targets, which seeds its P). Without <c>save_projection</c> files leave P out.
/// </summary>
public sealed class TinyLoraVectors : AdapterModelPart, ISharedTensorOwner, ISaveTransform
{
    readonly Dictionary<string, int> _index;

    /// <summary>Creates the vectors for the adapter's targets.</summary>
    public TinyLoraVectors(AdapterModelPartContext context) : base(context)
    {
        var c = (TinyLoraConfig)context.Config;
        _index = context.Targets.Select((t, i) => (t.Path.Engine, i)).ToDictionary(p => p.Engine, p => p.i, StringComparer.Ordinal);
        var dtype = context.Targets.Select(t => t.Module is AdapterLayer l ? l.BaseLayer : (Linear)t.Module).FirstOrDefault()?.Weight.DType ?? DType.Float32;
        var generator = context.CreateGenerator();
        var vectors = RegisterModule("tinylora_v", new ParameterDict());
        for (int g = 0; g < Groups(context.Targets.Count, c.WeightTying).Count; g++)
            vectors.Add($"{g}", c.InitWeights == TinyLoraInit.Zero ? Tensor.Zeros([c.U], dtype) : Tensor.Rand([c.U], -c.InitVBound, c.InitVBound, dtype, generator));
    }

    /// <summary>The vectors under their file keys, without creating them.</summary>
    public static IEnumerable<PlannedTensor> Plan(TinyLoraConfig c, int layers) =>
        Enumerable.Range(0, Groups(layers, c.WeightTying).Count).Select(g => new PlannedTensor($"base_model.tinylora_v.{g}", [c.U]));

    /// <summary>The number of groups and their size for <paramref name="layers"/> adapted layers.</summary>
    public static (int Count, int Size) Groups(int layers, double weightTying)
    {
        // Python's round: halves to even.
        int count = Math.Max(1, (int)Math.Round(layers * (1 - weightTying), MidpointRounding.ToEven));
        return (count, Math.Max(1, layers / count));
    }

    /// <summary>The index of the layer at <paramref name="path"/> among the adapter's targets.</summary>
    public int IndexOf(ModulePath path) => _index[path.Engine];

    /// <summary>The vector v [u] of the layer with index <paramref name="layer"/>.</summary>
    public Tensor VectorOf(int layer)
    {
        var (count, size) = Groups(_index.Count, ((TinyLoraConfig)Config).WeightTying);
        return ((ParameterDict)Child("tinylora_v"))[$"{Math.Min(layer / size, count - 1)}"];
    }

    /// <inheritdoc/>
    public IEnumerable<SharedTensor> SharedTensors()
    {
        var vectors = (ParameterDict)Child("tinylora_v");
        return vectors.Keys.Select(g => new SharedTensor($"base_model.tinylora_v.{g}", vectors[g], true, true));
    }

    /// <inheritdoc/>
    public (PeftConfig Config, Dictionary<string, Tensor> Tensors) ForSaving(PeftModel model, PeftConfig config, Dictionary<string, Tensor> tensors, bool convertToLora) =>
        config is TinyLoraConfig { SaveProjection: false }
            ? (config, tensors.Where(t => !t.Key.EndsWith(".tinylora_P", StringComparison.Ordinal)).ToDictionary(t => t.Key, t => t.Value, StringComparer.Ordinal))
            : (config, tensors);
}
