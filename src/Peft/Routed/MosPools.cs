namespace Engine.Peft.Routed;

/// <summary>
/// MoS's pools (arXiv 2410.00938; spec adapters-lowrank.md section 12), one pair per module type shared by all
/// layers of that type: Pool_A [v L l, in / l] (kaiming(√5) with fan = in) and Pool_B [out / l, v L l] (zeros), under
/// <c>base_model.mos_pool_A_&lt;type&gt;</c> / <c>mos_pool_B_&lt;type&gt;</c> (the type is the module path without its layer
/// numbers, dots as underscores). The first S = (v − p) L l shards are shared, then every layer i owns
/// [S + i p l, S + (i + 1) p l). The part also draws each layer's fixed indices (<see cref="Indices"/>); the layers
/// keep them as buffers, so files hold them. Saved with <c>convertToLora</c>, the adapter is written as a plain LoRA
/// with each layer's materialised A_i, B_i (rank r, the same alpha), as the reference's <c>save_tied_lora</c>.
/// </summary>
public sealed class MosPools : AdapterModelPart, ISharedTensorOwner, ISaveTransform
{
    readonly Dictionary<string, string> _typeOf = new(StringComparer.Ordinal);
    readonly Dictionary<string, (long[] A, long[] B)> _indices = new(StringComparer.Ordinal);
    readonly List<string> _types = new();

    /// <summary>Creates the pools and draws the indices for the adapter's targets.</summary>
    public MosPools(AdapterModelPartContext context) : base(context)
    {
        var c = (MosConfig)context.Config;
        var generator = context.CreateGenerator();
        foreach (var group in Groups(context))
        {
            var (type, layers) = (group.Key, group.ToList());
            var first = layers[0].Linear;
            int total = c.BudgetRank * layers.Count * c.ShardsPerVector;
            _types.Add(type);
            // kaiming_uniform(a = √5) with fan = in (not in / l): U(±1/√in).
            double bound = 1 / Math.Sqrt(first.InFeatures);
            RegisterParameter("mos_pool_A_" + type, Tensor.Rand([total, first.InFeatures / c.ShardsPerVector], -bound, bound, first.Weight.DType, generator));
            RegisterParameter("mos_pool_B_" + type, Tensor.Zeros([first.OutFeatures / c.ShardsPerVector, total], first.Weight.DType));
            for (int i = 0; i < layers.Count; i++)
            {
                _typeOf[layers[i].Path.Engine] = type;
                _indices[layers[i].Path.Engine] = (Draw(c, layers.Count, i, generator), Draw(c, layers.Count, i, generator));
            }
        }
    }

    /// <summary>The indices [r l] of one factor of layer <paramref name="layer"/> of <paramref name="layers"/>: (r − p) l distinct shared shards, then the layer's p l private ones.</summary>
    static long[] Draw(MosConfig c, int layers, int layer, Generator generator)
    {
        int l = c.ShardsPerVector, shared = (c.BudgetRank - c.PrivateRank) * layers * l;
        var picked = shared > 0 ? RandomPermutation.Of(shared, generator).Take((c.R - c.PrivateRank) * l).Select(i => (long)i) : [];
        return picked.Concat(Enumerable.Range(0, c.PrivateRank * l).Select(j => (long)shared + layer * c.PrivateRank * l + j)).ToArray();
    }

    /// <summary>The targets grouped by module type (the external path without its numeric segments), each checked.</summary>
    static IEnumerable<IGrouping<string, (ModulePath Path, Linear Linear)>> Groups(AdapterModelPartContext context)
    {
        var c = (MosConfig)context.Config;
        var targets = context.Targets.Select(t => (t.Path, Linear: t.Module is AdapterLayer a ? a.BaseLayer : (Linear)t.Module)).ToList();
        if (targets.Count == 0) throw new ArgumentException("MoS: no target layers");
        var groups = targets.GroupBy(t => TypeOf(t.Path), StringComparer.Ordinal).ToList();
        foreach (var g in groups)
        {
            var layers = g.ToList();
            var (inF, outF) = (layers[0].Linear.InFeatures, layers[0].Linear.OutFeatures);
            foreach (var t in layers)
            {
                if (t.Linear.InFeatures != inF || t.Linear.OutFeatures != outF)
                    throw new ArgumentException($"MoS: '{t.Path.External}' is [{t.Linear.OutFeatures}, {t.Linear.InFeatures}] but '{layers[0].Path.External}' of the same module type '{g.Key}' is [{outF}, {inF}]: a pool needs one shape per type");
                if (inF % c.ShardsPerVector != 0 || outF % c.ShardsPerVector != 0)
                    throw new ArgumentException($"MoS: '{t.Path.External}' is [{outF}, {inF}]; both widths must be multiples of shards_per_vector {c.ShardsPerVector}");
            }
            // (r − p) l distinct shared draws from (v − p) L l shards.
            if ((long)(c.R - c.PrivateRank) > (long)(c.BudgetRank - c.PrivateRank) * layers.Count)
                throw new ArgumentException($"MoS: module type '{g.Key}' has {layers.Count} layers: r - private_rank = {c.R - c.PrivateRank} exceeds (budget_rank - private_rank) x layers = {(c.BudgetRank - c.PrivateRank) * layers.Count}; lower r or raise budget_rank");
        }
        return groups;
    }

    /// <summary>The module type of <paramref name="path"/>: its external path without numeric segments, dots as underscores (<c>transformer_h_attn_c_attn</c>).</summary>
    public static string TypeOf(ModulePath path) => string.Join("_", path.External.Split('.').Where(s => !s.All(char.IsDigit)));

    /// <summary>The pools under their file keys, without creating them.</summary>
    public static IEnumerable<PlannedTensor> Plan(AdapterModelPartContext context)
    {
        var c = (MosConfig)context.Config;
        foreach (var g in Groups(context))
        {
            var first = g.First().Linear;
            int total = c.BudgetRank * g.Count() * c.ShardsPerVector;
            yield return new("base_model.mos_pool_A_" + g.Key, [total, first.InFeatures / c.ShardsPerVector]);
            yield return new("base_model.mos_pool_B_" + g.Key, [first.OutFeatures / c.ShardsPerVector, total]);
        }
    }

    /// <summary>The module type of the layer at engine path <paramref name="enginePath"/>.</summary>
    public string TypeOfLayer(string enginePath) => _typeOf[enginePath];

    /// <summary>The fixed indices (A, B), each [r l], of the layer at engine path <paramref name="enginePath"/>.</summary>
    public (long[] A, long[] B) Indices(string enginePath) => _indices[enginePath];

    /// <summary>Pool_A [v L l, in / l] of <paramref name="type"/>.</summary>
    public Tensor PoolA(string type) => Pool("mos_pool_A_" + type);

    /// <summary>Pool_B [out / l, v L l] of <paramref name="type"/>.</summary>
    public Tensor PoolB(string type) => Pool("mos_pool_B_" + type);

    Tensor Pool(string name) => NamedParameters().First(p => p.Name == name).Parameter;

    /// <inheritdoc/>
    public IEnumerable<SharedTensor> SharedTensors() =>
        _types.SelectMany(t => new SharedTensor[] { new("base_model.mos_pool_A_" + t, PoolA(t), true, true), new("base_model.mos_pool_B_" + t, PoolB(t), true, true) });

    /// <inheritdoc/>
    public (PeftConfig Config, Dictionary<string, Tensor> Tensors) ForSaving(PeftModel model, PeftConfig config, Dictionary<string, Tensor> tensors, bool convertToLora)
    {
        if (!convertToLora || config is not MosConfig c) return (config, tensors);
        // Everything but the pools and indices (modules_to_save, trained biases) stays.
        var lora = tensors.Where(t => !t.Key.StartsWith("base_model.mos_pool_", StringComparison.Ordinal) && !t.Key.Contains(".mos_index_", StringComparison.Ordinal))
            .ToDictionary(t => t.Key, t => t.Value, StringComparer.Ordinal);
        foreach (var (path, adapterLayer) in model.AdapterLayers())
        {
            if (adapterLayer is not MosLayer layer || !layer.AdapterNames.Contains(AdapterName)) continue;
            string key = AdapterFiles.KeyPrefix + model.PathOf(path).External + ".";
            lora[key + "lora_A.weight"] = layer.A(AdapterName).Detach().Contiguous();
            lora[key + "lora_B.weight"] = layer.B(AdapterName).Detach().Contiguous();
        }
        var plain = new LowRank.LoraConfig
        {
            R = c.R, LoraAlpha = c.LoraAlpha, LoraDropout = c.LoraDropout, FanInFanOut = c.FanInFanOut, TargetModules = c.TargetModules,
            ExcludeModules = c.ExcludeModules, LayersToTransform = c.LayersToTransform, LayersPattern = c.LayersPattern, ModulesToSave = c.ModulesToSave,
            TaskType = c.TaskType, BaseModelNameOrPath = c.BaseModelNameOrPath, InferenceMode = c.InferenceMode, Seed = c.Seed,
        };
        return (plain, lora);
    }
}
