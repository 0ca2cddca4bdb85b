using Engine.Peft.LowRank;

namespace Engine.Peft.Mixture;

/// <summary>
/// X-LoRA's model-level part (PEFT's <c>XLoraModel</c>, <c>xlora/model.py</c>; spec section C). It owns the LoRA experts
/// (ordinary LoRA adapters of the model named <c>&lt;adapter&gt;_0</c>, <c>_1</c>, ..., loaded from <c>adapters</c> or
/// created in place; <see cref="IAdapterOwner"/>) and the classifier (<see cref="XLoraClassifier"/>), and runs the
/// two-pass forward: a no-grad scaling pass in which every expert has weight scaling_pass_value gives the last hidden
/// state, the classifier turns it into scalings [B, T, L, n], and the mixing pass runs the model with every LoRA layer
/// mixing its experts per token (<see cref="XLoraMixing"/>). L counts the LoRA layers that hold an expert, in model
/// order (PEFT counts every LoRA layer of the model, which are the experts' when X-LoRA is the only LoRA user).
/// Files hold the classifier only (PEFT's <c>_get_adapter_state_dict</c>) and a config whose <c>adapters</c> name the
/// experts' folders: the engine saves each expert into a subfolder named after it and writes that relative path.
/// Generation recomputes the whole sequence at every step (PEFT requires use_cache=False): <see cref="Generate"/>.
/// </summary>
public sealed class XLoraModelPart : AdapterModelPart, IInputAdapter, ISharedTensorOwner, IAdapterOwner, ISaveTransform
{
    readonly List<(string Adapter, string Key, string Subfolder)> _experts = [];
    readonly Dictionary<AdapterLayer, int> _layerNumbers = new(ReferenceEqualityComparer.Instance);
    readonly int _hidden;

    /// <summary>Loads or creates the experts, numbers their layers and creates the classifier.</summary>
    public XLoraModelPart(AdapterModelPartContext context) : base(context)
    {
        var c = (XLoraConfig)context.Config;
        var peft = context.Model;
        _hidden = HiddenSizeOf(c, peft);
        var sources = Sources(c);
        try
        {
            for (int i = 0; i < sources.Count; i++)
            {
                var (key, folder, config) = sources[i];
                string adapter = ExpertName(AdapterName, i);
                // PEFT loads each expert with inference_mode False; whether it trains is the owner's use_trainable_adapters.
                if (folder is not null) peft.LoadAdapter(folder, adapter, trainable: true);
                else peft.AddAdapter(adapter, config!);
                _experts.Add((adapter, key, SubfolderFor(key, i)));
                if (peft.PeftConfigs[adapter] is not LoraConfig lora || LoraVariants.Requested(lora).Count > 0)
                    throw new NotSupportedException($"X-LoRA: expert '{key}' is a {peft.PeftConfigs[adapter].PeftType} adapter{(peft.PeftConfigs[adapter] is LoraConfig l ? " with " + string.Join(", ", LoraVariants.Requested(l)) : "")}; X-LoRA mixes plain LoRA experts (PEFT refuses DoRA too)");
            }
        }
        catch
        {
            for (int i = _experts.Count - 1; i >= 0; i--) peft.DeleteAdapter(_experts[i].Adapter);
            if (sources.Count > _experts.Count && peft.PeftConfigs.ContainsKey(ExpertName(AdapterName, _experts.Count))) peft.DeleteAdapter(ExpertName(AdapterName, _experts.Count));
            throw;
        }
        var names = _experts.Select(e => e.Adapter).ToHashSet(StringComparer.Ordinal);
        foreach (var (_, layer) in peft.AdapterLayers())
            if (layer is LoraLayer && layer.AdapterNames.Any(names.Contains)) _layerNumbers[layer] = _layerNumbers.Count;
        var dtype = peft.Model.Parameters().FirstOrDefault()?.DType ?? DType.Float32;
        RegisterModule("internal_xlora_classifier", new XLoraClassifier(c, _hidden, _experts.Count, _layerNumbers.Count, dtype, context.CreateGenerator()));
        // The classifier's dropout follows the model's mode.
        Train(peft.Model.Training);
    }

    /// <summary>The engine's name of expert <paramref name="index"/> of X-LoRA adapter <paramref name="adapter"/>.</summary>
    public static string ExpertName(string adapter, int index) => $"{adapter}_{index}";

    /// <summary>The classifier.</summary>
    public XLoraClassifier Classifier => (XLoraClassifier)Child("internal_xlora_classifier");

    /// <summary>The experts' adapter names, in order (expert k is column k of the scalings).</summary>
    public IReadOnlyList<string> Experts => _experts.Select(e => e.Adapter).ToList();

    /// <summary>The number L of LoRA layers that mix experts.</summary>
    public int LayerCount => _layerNumbers.Count;

    /// <summary>The scalings [B, T, L, n] of the latest forward's mixing pass (PEFT's get_latest_scalings), or null.</summary>
    public Tensor? LatestScalings { get; private set; }

    /// <summary>The classifier's tensors under PEFT's keys, planned from the config and the experts' plans.</summary>
    public static IEnumerable<PlannedTensor> Plan(AdapterModelPartContext context)
    {
        var c = (XLoraConfig)context.Config;
        var layers = new HashSet<string>(StringComparer.Ordinal);
        var sources = Sources(c);
        for (int i = 0; i < sources.Count; i++)
        {
            var (_, folder, config) = sources[i];
            foreach (var t in context.Model.PlanAdapter(ExpertName(context.AdapterName, i), config!, fromFile: folder is not null))
                if (t.Key.EndsWith(".lora_A.weight", StringComparison.Ordinal)) layers.Add(t.Key);
        }
        return XLoraClassifier.Plan(c, HiddenSizeOf(c, context.Model), sources.Count, layers.Count);
    }

    static int HiddenSizeOf(XLoraConfig c, PeftModel peft)
    {
        var model = peft.Model as ILastHiddenStateModel
            ?? throw new NotSupportedException($"X-LoRA: the classifier reads the last hidden state; {peft.Model.GetType().Name} does not implement ILastHiddenStateModel");
        if (c.HiddenSize is { } h && h != model.HiddenSize)
            throw new ArgumentException($"XLoraConfig: hidden_size is {h}, but the model's last hidden state has width {model.HiddenSize}");
        return model.HiddenSize;
    }

    // Each expert: its name in adapters (or its index), its folder, and its LoRA config (read from the folder).
    static List<(string Key, string? Folder, LoraConfig? Config)> Sources(XLoraConfig c)
    {
        var list = new List<(string, string?, LoraConfig?)>();
        foreach (var (key, path) in c.Adapters ?? new Dictionary<string, string>())
        {
            var folder = Resolve(c, key, path);
            var config = AdapterFiles.ReadConfig(folder) as LoraConfig
                ?? throw new InvalidDataException($"X-LoRA: expert '{key}' in '{folder}' is not a LoRA adapter");
            list.Add((key, folder, config));
        }
        for (int i = 0; i < (c.NewExperts?.Count ?? 0); i++) list.Add((i.ToString(System.Globalization.CultureInfo.InvariantCulture), null, c.NewExperts![i]));
        return list;
    }

    // PEFT passes the path to PeftModel.load_adapter (an absolute path, or relative to the working directory); from the
    // Hub it reads a subfolder named after the expert. The engine tries the path against the config's own folder first.
    static string Resolve(XLoraConfig c, string key, string path)
    {
        var tried = new List<string>();
        IEnumerable<string> Candidates()
        {
            if (Path.IsPathRooted(path)) { yield return path; yield break; }
            if (c.SourceFolder is { } f) yield return Path.Combine(f, path);
            yield return Path.GetFullPath(path);
            if (c.SourceFolder is { } g) yield return Path.Combine(g, key);
        }
        foreach (var candidate in Candidates())
        {
            tried.Add(candidate);
            if (File.Exists(Path.Combine(candidate, AdapterFiles.ConfigFileName))) return candidate;
        }
        throw new FileNotFoundException($"X-LoRA: expert '{key}' ('{path}') has no {AdapterFiles.ConfigFileName}; tried {string.Join(", ", tried.Select(t => $"'{t}'"))}");
    }

    static string SubfolderFor(string key, int index) =>
        key.Length > 0 && key == Path.GetFileName(key) && key is not "." and not ".." && key.IndexOfAny(Path.GetInvalidFileNameChars()) < 0 ? key : $"expert_{index}";

    /// <inheritdoc/>
    public override void OnLayersCreated(PeftModel model)
    {
        // hidden_size comes from the model (PEFT needs it in the config).
        if (model.PeftConfigs[AdapterName] is XLoraConfig c && c.HiddenSize != _hidden) model.UpdateConfig(AdapterName, c with { HiddenSize = _hidden });
    }

    /// <inheritdoc/>
    public IReadOnlyList<(string Adapter, string Subfolder)> OwnedAdapters => _experts.Select(e => (e.Adapter, e.Subfolder)).ToList();

    /// <inheritdoc/>
    public bool OwnedAdaptersTrain => ((XLoraConfig)Config).UseTrainableAdapters;

    /// <inheritdoc/>
    public IEnumerable<SharedTensor> SharedTensors() => Classifier.Tensors();

    /// <inheritdoc/>
    public (PeftConfig Config, Dictionary<string, Tensor> Tensors) ForSaving(PeftModel model, PeftConfig config, Dictionary<string, Tensor> tensors, bool convertToLora)
    {
        var c = (XLoraConfig)config;
        var adapters = _experts.ToDictionary(e => e.Key, e => e.Subfolder, StringComparer.Ordinal);
        return (c with { Adapters = adapters, NewExperts = null, SourceFolder = null, HiddenSize = _hidden }, tensors);
    }

    /// <inheritdoc/>
    public int VirtualTokens => 0;

    /// <summary>The two passes of PEFT's X-LoRA forward for token ids [B, T]; returns the logits of the mixing pass.</summary>
    public Tensor Forward(PeftModel model, Tensor input)
    {
        var c = (XLoraConfig)model.PeftConfigs[AdapterName];
        var experts = _experts.Select((e, k) => (e.Adapter, k)).ToDictionary(e => e.Adapter, e => e.k, StringComparer.Ordinal);
        var weight = Classifier.Tensors().First().Tensor;
        Tensor hidden;
        using (Autograd.Autograd.NoGrad())
        {
            var dummy = Tensor.Full([input.Size(0), input.Size(1), LayerCount, _experts.Count], c.ScalingPassValue, weight.DType, weight.Device);
            using (XLoraMixing.Begin(new XLoraMixing(_layerNumbers, experts, dummy, c)))
                hidden = ((ILastHiddenStateModel)model.Model).LastHiddenState(input);
        }
        var scalings = Classifier.Scalings(hidden, c);
        LatestScalings = scalings.Detach();
        using (XLoraMixing.Begin(new XLoraMixing(_layerNumbers, experts, scalings, c)))
            return model.Model.Forward(input);
    }

    /// <summary>X-LoRA decodes without a KV cache (PEFT sets use_cache=False): the scalings of every position come from a
    /// scaling pass over the whole sequence. Use <see cref="Generate"/>.</summary>
    public KvCache CreateCache(PeftModel model, int batch) =>
        throw new NotSupportedException("X-LoRA: generation recomputes the whole sequence at every step (PEFT's use_cache=False); use XLoraModelPart.Generate instead of a KV cache");

    /// <summary>
    /// Extends each prompt row [B, T0] by up to <paramref name="maxNewTokens"/> tokens, running both passes on the whole
    /// sequence at every step (no cache), until the model's context is full.
    /// </summary>
    public Tensor Generate(PeftModel model, Tensor prompt, int maxNewTokens, SamplingOptions options, Generator? generator = null)
    {
        model.Eval();
        using var _ = Autograd.Autograd.NoGrad();
        var tokens = prompt.To(DType.Int64);
        int context = (model.Model as Gpt)?.Config.ContextLength ?? int.MaxValue;
        for (int step = 0; step < maxNewTokens && tokens.Size(1) < context; step++)
        {
            var logits = Forward(model, tokens);
            var next = Sampling.NextToken(logits.Select(1, -1), options, generator);
            tokens = Tensor.Concat([tokens, next.To(DType.Int64).Reshape(tokens.Size(0), 1)], 1);
        }
        return tokens;
    }
}
