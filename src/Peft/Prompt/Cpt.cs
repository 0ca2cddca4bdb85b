namespace Engine.Peft.Prompt;

/// <summary>
/// CPT's model-level part (PEFT's <c>CPTEmbedding</c>, peft/tuners/cpt/model.py, and the CPT branch of
/// <c>PeftModelForCausalLM</c>): the frozen embeddings of the context tokens (<c>prompt_embeddings</c>, a buffer) and
/// the trainable <c>delta_embedding</c> (zeros), the prompt being their sum. The delta's gradient is kept only on rows
/// of types 1–3 (PEFT's backward hook); each delta row is projected onto its ε-ball before every forward (as PEFT) and
/// after every optimiser step (<see cref="IStepHook"/>). Files hold the sum; a loaded adapter takes the sum as its frozen
/// embeddings and starts its delta at zero again (PEFT saves no delta).
/// </summary>
public sealed class Cpt : AdapterModelPart, IInputAdapter, ISharedTensorOwner, ISaveTransform, IStepHook
{
    /// <summary>The file key of the prompt (embeddings + delta), and the adapter's key of the frozen embeddings.</summary>
    public const string Key = "prompt_embeddings";

    /// <summary>The adapter's key of the delta, which files do not hold.</summary>
    public const string DeltaKey = "delta_embedding";

    readonly long[] _ids;
    readonly int[] _types;
    readonly double[] _epsilon;
    readonly double[] _gradientMask;

    /// <summary>Creates the embeddings of the config's tokens and a zero delta.</summary>
    public Cpt(AdapterModelPartContext context) : base(context)
    {
        var c = (CptConfig)context.Config;
        var table = VirtualTokenInput.Model(context, "Cpt").TokenEmbedding.Weight.Detach();
        _ids = c.TokenIds.ToArray();
        _types = c.TokenTypes.ToArray();
        int n = _ids.Length, d = table.Size(1);
        if (!context.FromFile && _ids.Any(i => i < 0 || i >= table.Size(0)))
            throw new ArgumentException($"Cpt: cpt_token_ids must lie in [0, {table.Size(0)})");
        RegisterBuffer(Key, context.FromFile ? Tensor.Zeros([n, d], table.DType) : table.IndexSelect(0, Tensor.FromArray(_ids)).Clone());
        RegisterParameter(DeltaKey, Tensor.Zeros([n, d], table.DType));
        _epsilon = Epsilons(c, _types, d);
        // PEFT's hook keeps the gradient of rows whose type mod 4 is 1, 2 or 3.
        _gradientMask = _types.Select(t => t % 4 is 1 or 2 or 3 ? 1.0 : 0.0).ToArray();
    }

    /// <summary>
    /// Each row's ε (PEFT's <c>get_epsilon</c>): format ε · √(d/2048) for types 1 and 3, input ε · √(d/2048) for type 2,
    /// and 1e-10 for the rest (type 0 and labels), in float32 as PEFT computes it.
    /// </summary>
    public static double[] Epsilons(CptConfig c, IReadOnlyList<int> types, int d)
    {
        float scale = MathF.Sqrt((float)d / 2048);
        double format = (float)c.OptProjectionFormatEpsilon * scale, input = (float)c.OptProjectionEpsilon * scale;
        return types.Select(t => t > 0 && t % 4 is 1 or 3 ? format : t > 0 && t % 4 == 2 ? input : (double)1e-10f).ToArray();
    }

    /// <summary>The tensors, without creating them: the frozen embeddings and the delta (which files do not hold), each [n, d].</summary>
    public static IEnumerable<PlannedTensor> Plan(AdapterModelPartContext context)
    {
        int n = ((CptConfig)context.Config).TokenIds.Count, d = VirtualTokenInput.Model(context, "Cpt").TokenEmbedding.Weight.Size(1);
        return [new(Key, [n, d]), new(DeltaKey, [n, d]) { RecomputedIfMissing = true }];
    }

    /// <summary>The frozen embeddings [n, d].</summary>
    public Tensor Embedding => NamedBuffers().First(b => b.Name == Key).Buffer;

    /// <summary>The trainable delta [n, d].</summary>
    public Tensor Delta => GetParameter(DeltaKey);

    /// <summary>Each row's ε.</summary>
    public IReadOnlyList<double> Epsilon => _epsilon;

    /// <inheritdoc/>
    public int VirtualTokens => _ids.Length;

    /// <summary>
    /// Scales every delta row whose norm exceeds its ε back onto the ball (PEFT's <c>get_projection</c>: row · ε / max(‖row‖, ε)).
    /// Writes only when a row is outside, so forwards of a trained (projected) adapter read and never write.
    /// </summary>
    public void Project()
    {
        using var _ = Autograd.Autograd.NoGrad();
        var delta = Delta;
        var norms = delta.Square().Sum(1).Sqrt().ToDoubleArray();
        if (!norms.Where((norm, i) => norm > _epsilon[i]).Any()) return;
        var scale = norms.Select((norm, i) => norm > _epsilon[i] ? _epsilon[i] / norm : 1.0).ToArray();
        delta.CopyFrom(delta * Column(scale, delta));
    }

    // values [n] as a column [n, 1] in like's dtype and on its device.
    static Tensor Column(double[] values, Tensor like) => Tensor.FromArray(values).Reshape(-1, 1).To(like.DType).To(like.Device);

    /// <summary>The prompt [n, d]: embeddings + delta, with the delta's gradient kept on rows of types 1–3 only.</summary>
    public Tensor Prompt()
    {
        Project();
        var delta = Delta;
        var mask = Column(_gradientMask, delta);
        // The value is the delta itself; the gradient flows through the kept rows only.
        var masked = delta * mask + (delta * (1 - mask)).Detach();
        return Embedding + masked;
    }

    /// <inheritdoc/>
    public Tensor Forward(PeftModel model, Tensor input) => VirtualTokenInput.Forward(model, input, Prompt());

    /// <inheritdoc/>
    public KvCache CreateCache(PeftModel model, int batch)
    {
        using var _ = Autograd.Autograd.NoGrad();
        return VirtualTokenInput.CreateCache(model, Prompt(), batch, "Cpt");
    }

    /// <summary>
    /// PEFT's CPT forward with labels (<c>_cpt_forward</c> and <c>CPTEmbedding.calculate_loss</c>): the logits of every
    /// position [B, n + T, V] (the model must be an <see cref="IKvCacheModel"/>) and CPT's loss. The labels are the
    /// prompt's token ids followed by <paramref name="labels"/> [B, T] (−100 ignored), kept only where the type is a
    /// label (type &gt; 0 and type mod 4 = 0); the input's types (<paramref name="inputTypeMask"/> [B, T], default 4)
    /// are shifted by the largest prompt type where positive. The loss is the mean next-token cross-entropy over the
    /// kept labels, with "decay" weighting the k-th last example (by type) by decay^k.
    /// </summary>
    public (Tensor Logits, Tensor Loss) ForwardWithLoss(PeftModel model, Tensor ids, Tensor labels, Tensor? inputTypeMask = null)
    {
        var causal = model.Model as IKvCacheModel
            ?? throw new NotSupportedException($"Cpt: the CPT loss needs every position's logits, from a model that implements IKvCacheModel; {model.Model.GetType().Name} does not");
        int b = ids.Size(0), t = ids.Size(1), n = VirtualTokens;
        if (labels.Rank != 2 || labels.Size(0) != b || labels.Size(1) != t)
            throw new ArgumentException($"Cpt: labels must be [{b}, {t}] as the ids, got {Shapes.Format(labels.Shape)}");
        var embeddings = ((IPromptableModel)model.Model).TokenEmbedding.Forward(ids);
        var logits = causal.ForwardEmbeddings(Tensor.Concat([VirtualTokenInput.Batched(Prompt(), b), embeddings], 1), null);

        var given = labels.ToArray<long>();
        var inputTypes = inputTypeMask?.ToArray<long>() ?? Enumerable.Repeat(4L, b * t).ToArray();
        long shift = _types.Max();
        var allLabels = new long[b * (n + t)];
        var allTypes = new long[b * (n + t)];
        for (int r = 0; r < b; r++)
            for (int i = 0; i < n + t; i++)
            {
                long type = i < n ? _types[i] : inputTypes[r * t + i - n] > 0 ? inputTypes[r * t + i - n] + shift : inputTypes[r * t + i - n];
                long label = i < n ? _ids[i] : given[r * t + i - n];
                allTypes[r * (n + t) + i] = type;
                allLabels[r * (n + t) + i] = type > 0 && type % 4 == 0 ? label : -100;
            }
        return (logits, Loss(logits, allLabels, allTypes, b, n + t, (CptConfig)Config));
    }

    // CPTEmbedding.calculate_loss: next-token cross-entropy at the kept labels, weighted, averaged over their count.
    static Tensor Loss(Tensor logits, long[] labels, long[] types, int batch, int length, CptConfig c)
    {
        int vocab = logits.Size(2), steps = length - 1;
        var targets = new List<long>();
        var rows = new List<long>();
        var weights = new List<double>();
        for (int r = 0; r < batch; r++)
        {
            // Label types of the row, largest (last example) first: weights 1, decay, decay², ...
            var decay = new Dictionary<long, double>();
            double value = 1;
            foreach (var type in Enumerable.Range(1, steps).Select(i => types[r * length + i]).Where(x => x > 0 && x % 4 == 0).Distinct().OrderDescending())
            {
                decay[type] = value;
                value *= c.OptLossDecayFactor;
            }
            for (int i = 0; i < steps; i++)
            {
                long label = labels[r * length + i + 1];
                if (label == -100) continue;
                rows.Add(r * length + i);
                targets.Add(label);
                weights.Add(c.OptWeightedLossType == "decay" ? decay.GetValueOrDefault(types[r * length + i + 1], 1) : 1);
            }
        }
        if (rows.Count == 0) throw new ArgumentException("Cpt: no position holds a label (type > 0 and type mod 4 = 0) to train on");
        var picked = logits.Reshape(batch * length, vocab).IndexSelect(0, Tensor.FromArray(rows.ToArray()));
        var logProbs = picked.LogSoftmax(-1);
        var oneHot = Tensor.Zeros([rows.Count, vocab], logits.DType);
        var w = weights.ToArray();
        var mask = new double[rows.Count * vocab];
        for (int k = 0; k < rows.Count; k++) mask[k * vocab + targets[k]] = w[k];
        var weighted = logProbs * Tensor.FromArray(mask).Reshape(rows.Count, vocab).To(logits.DType);
        return -weighted.Sum() / rows.Count;
    }

    /// <inheritdoc/>
    public void OnStep(int step, PeftModel model) => Project();

    /// <inheritdoc/>
    public IEnumerable<SharedTensor> SharedTensors()
    {
        yield return new(Key, Embedding, true, false);
        yield return new(DeltaKey, Delta, false, true);
    }

    /// <summary>Writes embeddings + delta (projected) as <c>prompt_embeddings</c>, and n as num_virtual_tokens, as PEFT.</summary>
    public (PeftConfig Config, Dictionary<string, Tensor> Tensors) ForSaving(PeftModel model, PeftConfig config, Dictionary<string, Tensor> tensors, bool convertToLora)
    {
        Project();
        tensors[Key] = (Embedding + Delta).Detach().Contiguous();
        return (config is CptConfig c ? c with { NumVirtualTokens = VirtualTokens } : config, tensors);
    }
}
