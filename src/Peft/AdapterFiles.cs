using System.Text.Json;
using System.Text.Json.Nodes;
using Engine.Nn.Checkpoints;

namespace Engine.Peft;

/// <summary>
/// Hugging Face PEFT's adapter files: <c>adapter_config.json</c> (the config with PEFT's field names) and
/// <c>adapter_model.safetensors</c> with keys <c>base_model.model.&lt;module path&gt;.&lt;tensor&gt;</c>, the adapter
/// name stripped (<c>base_model.model.transformer.h.0.attn.c_attn.lora_A.weight</c>); shared tensors under the keys
/// their method declares (<c>base_model.vera_A</c>, <c>prompt_embeddings</c>); <c>modules_to_save</c> tensors as
/// <c>base_model.model.&lt;module path&gt;.&lt;parameter&gt;</c>. The same code serves every registered method.
/// </summary>
public static class AdapterFiles
{
    /// <summary>The configuration file of an adapter folder.</summary>
    public const string ConfigFileName = "adapter_config.json";

    /// <summary>The weights file of an adapter folder.</summary>
    public const string WeightsFileName = "adapter_model.safetensors";

    /// <summary>PEFT's prefix of every layer key (PeftModel.base_model = the tuner, whose .model is the user's model).</summary>
    public const string KeyPrefix = "base_model.model.";

    /// <summary>The tensors of adapter <paramref name="name"/> that files hold, under PEFT's keys (copies).</summary>
    public static Dictionary<string, Tensor> StateDict(PeftModel peft, string name)
    {
        var saved = SavedKeys(peft, name);
        var state = peft.NamedAdapterTensors(name).Where(t => saved.Contains(t.Key))
            .ToDictionary(t => t.Key, t => t.Tensor.Detach().Contiguous(), StringComparer.Ordinal);
        foreach (var (key, weight) in EmbeddingBaseWeights(peft, name)) state[key] = weight.Detach().Contiguous();
        return state;
    }

    /// <summary>PEFT's names of embedding layers (<c>EMBEDDING_LAYER_NAMES</c>): adapting one makes PEFT save its base weight.</summary>
    public static readonly IReadOnlyList<string> EmbeddingLayerNames = ["embed_tokens", "lm_head"];

    // PEFT's save_pretrained (save_embedding_layers="auto") also writes the wrapped base weight of an adapted embedding
    // layer, <path>.base_layer.weight (GPT-2's lm_head: the tied wte); the engine writes it too, so its files equal PEFT's.
    static IEnumerable<(string Key, Tensor Weight)> EmbeddingBaseWeights(PeftModel peft, string name)
    {
        foreach (var (_, layer) in peft.AdapterLayers())
        {
            if (!layer.AdapterNames.Contains(name) || layer is ModulesToSaveLayer) continue;
            var external = layer.PathOf(name).External;
            if (!EmbeddingLayerNames.Contains(external[(external.LastIndexOf('.') + 1)..])) continue;
            var weight = layer.BaseModule switch { Linear l => l.Weight, Embedding e => e.Weight, _ => null };
            if (weight is not null) yield return (KeyPrefix + external + ".base_layer.weight", weight);
        }
    }

    // Every key except shared tensors the method does not write (VeRA without save_projection).
    static HashSet<string> SavedKeys(PeftModel peft, string name)
    {
        var keys = peft.NamedAdapterTensors(name).Select(t => t.Key).ToHashSet(StringComparer.Ordinal);
        if (peft.ModelPart(name) is ISharedTensorOwner owner)
            foreach (var s in owner.SharedTensors()) if (!s.Saved) keys.Remove(s.Key);
        return keys;
    }

    /// <summary>
    /// Writes adapter <paramref name="name"/> of <paramref name="peft"/> into <paramref name="folder"/>; with
    /// <paramref name="convertToLora"/>, methods that moved part of the base weight into the adapter (PiSSA, OLoRA,
    /// CorDA, LoRA-GA) write the plain LoRA adapter of the same update on the original base. Both files are replaced as one unit
    /// (<see cref="PretrainedFolder"/>): a save killed at any point leaves the previous adapter or this one.
    /// </summary>
    public static void Save(PeftModel peft, string name, string folder, bool convertToLora = false)
    {
        // Adapters this one is built from (X-LoRA's experts) first, each in its subfolder, so the config written last
        // never names a folder that is not there yet.
        if (peft.ModelPart(name) is IAdapterOwner owner)
            foreach (var (adapter, subfolder) in owner.OwnedAdapters) Save(peft, adapter, Path.Combine(folder, subfolder), convertToLora);
        // One atomic save: a reader never sees this config with the previous weights.
        PretrainedFolder.Save(folder, Files(peft, name, convertToLora));
    }

    /// <summary>
    /// The two files of adapter <paramref name="name"/> (config and weights) as <see cref="Save"/> writes them, for a
    /// caller that saves them in one unit with files of its own (a classifier's manifest).
    /// </summary>
    public static IReadOnlyList<PretrainedFile> Files(PeftModel peft, string name, bool convertToLora = false)
    {
        var config = ConfigOf(peft, name);
        var tensors = StateDict(peft, name);
        if (peft.ModelPart(name) is ISaveTransform transform) (config, tensors) = transform.ForSaving(peft, config, tensors, convertToLora);
        var json = config.ToJson();
        // Hugging Face's GPT-2 keeps these layers as Conv1D, for which PEFT records fan_in_fan_out = true.
        if (json.ContainsKey("fan_in_fan_out") && peft.Naming is { } naming &&
            peft.AdapterLayers().Any(l => l.Layer.AdapterNames.Contains(name) && naming.IsConv1D(l.Path)))
            json["fan_in_fan_out"] = true;
        return [PretrainedFile.Json(ConfigFileName, json),
            PretrainedFile.Safetensors(WeightsFileName, tensors, new Dictionary<string, string> { ["format"] = "pt" })];
    }

    /// <summary>Reads the configuration of an adapter folder, first completing a save to it that was killed (<see cref="PretrainedFolder.Recover"/>).</summary>
    /// <exception cref="FileNotFoundException">The folder has no adapter_config.json.</exception>
    /// <exception cref="InvalidDataException">The file is not JSON, or a field is wrong (named).</exception>
    public static PeftConfig ReadConfig(string folder)
    {
        PretrainedFolder.Recover(folder);
        var path = Path.Combine(folder, ConfigFileName);
        if (!File.Exists(path)) throw new FileNotFoundException($"AdapterFiles: '{folder}' has no {ConfigFileName}", path);
        JsonObject json;
        try
        {
            // Parsed as a document first: JsonObject would throw a bare ArgumentException on a repeated key.
            using var document = JsonDocument.Parse(File.ReadAllText(path), new JsonDocumentOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip });
            if (document.RootElement.ValueKind != JsonValueKind.Object) throw new InvalidDataException($"AdapterFiles: '{path}' is not a JSON object");
            CheckUniqueKeys(document.RootElement, path, "");
            json = JsonObject.Create(document.RootElement.Clone())!;
        }
        catch (JsonException e) { throw new InvalidDataException($"AdapterFiles: '{path}' is not valid JSON: {e.Message}", e); }
        return PeftConfig.FromJson(json, path);
    }

    static void CheckUniqueKeys(JsonElement element, string path, string where)
    {
        if (element.ValueKind == JsonValueKind.Array)
        {
            foreach (var item in element.EnumerateArray()) CheckUniqueKeys(item, path, where);
            return;
        }
        if (element.ValueKind != JsonValueKind.Object) return;
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var property in element.EnumerateObject())
        {
            string field = where.Length == 0 ? property.Name : $"{where}['{property.Name}']";
            if (!names.Add(property.Name)) throw new InvalidDataException($"AdapterFiles: '{path}' field '{field}' appears twice");
            CheckUniqueKeys(property.Value, path, field);
        }
    }

    /// <summary>
    /// Adds adapter <paramref name="name"/> from <paramref name="folder"/> to <paramref name="peft"/>. All or nothing, and
    /// checked before anything is allocated: the adapter is planned from the config and the model
    /// (<see cref="PeftModel.PlanAdapter"/>), put in the file's form where the method's files differ
    /// (<see cref="IFileFormReader"/>), and compared with the weight file's header (every key used, every tensor
    /// found with its shape); only then are the tensors read, the layers built from the config (so PiSSA/OLoRA move the
    /// same principal part out of the original base weights) and the file's tensors copied in.
    /// </summary>
    /// <exception cref="FileNotFoundException">The folder lacks one of the two files.</exception>
    /// <exception cref="InvalidDataException">The config is wrong, or a key is missing, unexpected or has the wrong shape (all are named).</exception>
    /// <exception cref="SafetensorsFormatException">The weight file breaks the safetensors format.</exception>
    /// <exception cref="NotSupportedException">The config asks for something the engine does not implement, or its
    /// initialisation changed the base weight from data (CorDA, LoRA-GA) and <paramref name="calibration"/> is null.</exception>
    /// <remarks>For files whose initialisation moved a data-driven part of the base weight into the adapter
    /// (<see cref="ICalibratedConfig.LoadNeed"/>: CorDA, LoRA-GA), <c>calibration</c> is the data it was initialised with,
    /// run again on the original base. Other files ignore it.</remarks>
    public static void Load(PeftModel peft, string folder, string name, bool trainable, CalibrationData? calibration = null)
    {
        var config = ReadConfig(folder) with { InferenceMode = !trainable };
        if (config is ISourceFolderConfig relative) config = relative.FromFolder(folder);
        PeftModel.RequireLoadData(name, config, calibration);
        var weightsPath = Path.Combine(folder, WeightsFileName);
        if (!File.Exists(weightsPath)) throw new FileNotFoundException($"AdapterFiles: '{folder}' has no {WeightsFileName}", weightsPath);
        Dictionary<string, Tensor> values;
        Dictionary<string, int[]> fileShapes;
        var embeddingBases = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        using (var file = Safetensors.Open(weightsPath))
        {
            // A renamed method reads its former keys (Bone's .bone_block) under the current ones (.miss_block).
            var method = PeftRegistry.ByConfigType(config.GetType());
            var fileKeyOf = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var n in file.Names)
                if (!fileKeyOf.TryAdd(method.CurrentKey(n), n))
                    throw new InvalidDataException($"AdapterFiles: '{weightsPath}' has both '{fileKeyOf[method.CurrentKey(n)]}' and '{n}', the same {config.PeftType} tensor under its former and current name");
            var header = fileKeyOf.ToDictionary(k => k.Key, k => file.Info(k.Value).Shape.ToArray(), StringComparer.Ordinal);
            fileShapes = header;
            // The plan sees the file's shapes: a method whose per-layer sizes only the file records (AdaMSS) reads them.
            IReadOnlyList<PlannedTensor> plan;
            try { plan = peft.PlanAdapter(name, config, fromFile: true, fileShapes); }
            catch (ArgumentException e) { throw new InvalidDataException($"AdapterFiles: '{folder}': {e.Message}", e); }
            // An adapted embedding layer's base weight (PEFT's lm_head.base_layer.weight) is the model's, not the
            // adapter's: set aside here and checked against the model once the adapter is built.
            var embeddingKeys = header.Keys.Where(IsEmbeddingBaseKey).ToList();
            foreach (var key in embeddingKeys) header.Remove(key);
            // A method whose files hold another form (VB-LoRA's top-k) is matched against that form, then converted.
            var reader = config as IFileFormReader;
            IReadOnlyList<PlannedTensor> filePlan;
            try { filePlan = reader?.FileForm(plan, header.Keys.ToHashSet(StringComparer.Ordinal)) ?? plan; }
            catch (InvalidDataException e) { throw new InvalidDataException($"AdapterFiles: '{weightsPath}': {e.Message}", e); }
            var planned = filePlan.ToDictionary(t => t.Key, StringComparer.Ordinal);
            var found = Match(filePlan.Select(t => (t.Key, t.Shape, t.RecomputedIfMissing)), header, weightsPath, config);
            // A float where the plan has integers (or the reverse) would load as garbage: the dtype must match the plan.
            foreach (var (expected, inFile) in found) CheckDType(planned[expected], file.Info(fileKeyOf[inFile]), weightsPath);
            values = found.ToDictionary(f => f.Expected, f => file.Read(fileKeyOf[f.InFile]), StringComparer.Ordinal);
            foreach (var (key, value) in values) CheckIndexBound(planned[key], value, weightsPath);
            if (reader is not null) values = reader.FromFileForm(values, plan);
            foreach (var key in embeddingKeys) embeddingBases[key] = file.Read(fileKeyOf[key]);
        }

        // Adding the adapter freezes the base; a failed load must leave every parameter's RequiresGrad as it was too.
        var requiresGrad = peft.Parameters().Where(p => p.RequiresGrad).ToHashSet(ReferenceEqualityComparer.Instance);
        try { peft.AddAdapter(name, config, fromFile: true, fileShapes, calibration); }
        catch (ArgumentException e) { throw new InvalidDataException($"AdapterFiles: '{folder}': {e.Message}", e); }
        // Trained biases (PEFT's bias = "all" / "lora_only") are the base model's own tensors: kept to be put back.
        var biasesBefore = TrainedBiases.Of(peft, name, config).Select(b => (b.Bias, Value: b.Bias.Detach().Clone())).ToList();
        try
        {
            // The plan and the built adapter agree (a law test keeps them so); checked again as a backstop.
            var built = peft.NamedAdapterTensors(name).ToList();
            Match(built.Select(t => (t.Key, t.Tensor.Shape, !values.ContainsKey(t.Key))), values.ToDictionary(v => v.Key, v => v.Value.Shape, StringComparer.Ordinal), weightsPath, config);
            CheckSharedCopies(built, values, weightsPath);
            using (Autograd.Autograd.NoGrad())
                foreach (var t in built)
                    if (values.TryGetValue(t.Key, out var value)) t.Tensor.CopyFrom(value.To(t.Tensor.DType));
            CheckEmbeddingBases(peft, name, embeddingBases, weightsPath);
        }
        catch
        {
            using (Autograd.Autograd.NoGrad())
                foreach (var (bias, value) in biasesBefore) bias.CopyFrom(value);
            peft.DeleteAdapter(name);
            foreach (var p in peft.Parameters()) p.RequiresGrad = requiresGrad.Contains(p);
            throw;
        }
    }

    // A tensor shared by several layers (Lily's A and B) is saved once under each layer's key, as PEFT writes it; PEFT's
    // load_state_dict would keep the last copy silently. The engine requires every copy to be equal (bit for bit), so no
    // copy is dropped unseen, and names the first two keys that differ.
    static void CheckSharedCopies(List<AdapterTensor> built, Dictionary<string, Tensor> values, string weightsPath)
    {
        foreach (var group in built.Where(t => values.ContainsKey(t.Key)).GroupBy(t => t.Tensor, ReferenceEqualityComparer.Instance))
        {
            var keys = group.Select(t => t.Key).ToList();
            if (keys.Count < 2) continue;
            var first = values[keys[0]].To(DType.Float64).ToDoubleArray();
            foreach (var key in keys.Skip(1))
                if (!first.AsSpan().SequenceEqual(values[key].To(DType.Float64).ToDoubleArray()))
                    throw new InvalidDataException($"AdapterFiles: '{keys[0]}' and '{key}' in '{weightsPath}' are copies of one shared tensor but differ; a shared tensor must be saved with the same values under every key");
        }
    }

    static bool IsEmbeddingBaseKey(string key) =>
        key.EndsWith(".base_layer.weight", StringComparison.Ordinal) && EmbeddingLayerNames.Any(n => key.EndsWith("." + n + ".base_layer.weight", StringComparison.Ordinal));

    // Each saved embedding base weight must belong to a layer this adapter wraps and equal the model's weight: PEFT
    // saves it so a resized or retrained embedding travels with the adapter, which the engine does not load.
    static void CheckEmbeddingBases(PeftModel peft, string name, Dictionary<string, Tensor> inFile, string weightsPath)
    {
        var model = EmbeddingBaseWeights(peft, name).ToDictionary(e => e.Key, e => e.Weight, StringComparer.Ordinal);
        foreach (var (key, saved) in inFile)
        {
            if (!model.TryGetValue(key, out var weight))
                throw new InvalidDataException($"AdapterFiles: '{weightsPath}' has '{key}', but the adapter built from its config does not adapt that layer");
            if (!saved.Shape.SequenceEqual(weight.Shape))
                throw new InvalidDataException($"AdapterFiles: '{key}' in '{weightsPath}' is {Shapes.Format(saved.Shape)}, the model's weight {Shapes.Format(weight.Shape)} (a resized embedding is not supported)");
            double diff = (saved.To(DType.Float64) - weight.Detach().To(DType.Float64)).Abs().Max().Item();
            double scale = Math.Max(weight.Detach().Abs().Max().Item(), 1e-30);
            if (!(diff <= 1e-6 * scale))
                throw new InvalidDataException($"AdapterFiles: '{key}' in '{weightsPath}' differs from the model's weight (by {diff:G3}): the adapter was saved with another embedding, which the engine does not load");
        }
    }

    static readonly string[] IntegerDTypes = ["I64", "I32", "I16", "I8", "U16", "U8"];

    static void CheckDType(PlannedTensor planned, SafetensorsTensorInfo info, string weightsPath)
    {
        if (planned.Integer && !IntegerDTypes.Contains(info.DType))
            throw new InvalidDataException($"AdapterFiles: '{info.Name}' in '{weightsPath}' has dtype {info.DType}; it holds integers (positions or indices) and must be one of {string.Join(", ", IntegerDTypes)}");
        if (!planned.Integer && !info.IsFloatingPoint)
            throw new InvalidDataException($"AdapterFiles: '{info.Name}' in '{weightsPath}' has dtype {info.DType}; adapter tensors must be F32, F64, F16 or BF16");
    }

    // An index outside its range would read outside a tensor at the first forward: refused at load, with the offender.
    static void CheckIndexBound(PlannedTensor planned, Tensor value, string weightsPath)
    {
        if (planned.IndexBound is null && planned.RowIndexBounds is null || value.Numel == 0) return;
        var values = value.To(DType.Int64).ToArray<long>();
        int perRow = planned.RowIndexBounds is null ? 1 : values.Length / value.Size(0);
        long BoundAt(int i) => planned.RowIndexBounds is { } rows ? rows[i / perRow] : planned.IndexBound!.Value;
        int bad = Array.FindIndex(values, v => v < 0);
        if (bad < 0) bad = Enumerable.Range(0, values.Length).FirstOrDefault(i => values[i] >= BoundAt(i), -1);
        if (bad >= 0)
            throw new InvalidDataException($"AdapterFiles: '{planned.Key}' in '{weightsPath}' holds {values[bad]} at flat position {bad}; its values index a length of {BoundAt(bad)} and must lie in [0, {BoundAt(bad)})");
    }

    // Pairs every expected tensor with its key in the file (some writers keep ".weight" on the DoRA magnitude's key;
    // PEFT drops it: both are accepted); every file key must be used and every shape equal, else one exception names all.
    // A tensor the plan marks as recomputed-if-missing may be absent.
    static List<(string Expected, string InFile)> Match(IEnumerable<(string Key, int[] Shape, bool MayBeMissing)> expected, IReadOnlyDictionary<string, int[]> file, string weightsPath, PeftConfig config)
    {
        var used = new HashSet<string>(StringComparer.Ordinal);
        var missing = new List<string>();
        var wrongShape = new List<string>();
        var pairs = new List<(string, string)>();
        foreach (var (key, shape, mayBeMissing) in expected)
        {
            var found = new[] { key, key + ".weight" }.FirstOrDefault(file.ContainsKey);
            if (found is null) { if (!mayBeMissing) missing.Add(key); continue; }
            used.Add(found);
            if (!file[found].SequenceEqual(shape)) { wrongShape.Add($"{found} {Shapes.Format(file[found])} (expected {Shapes.Format(shape)})"); continue; }
            pairs.Add((key, found));
        }
        var unexpected = file.Keys.Where(k => !used.Contains(k)).ToList();
        if (missing.Count > 0 || unexpected.Count > 0 || wrongShape.Count > 0)
            throw new InvalidDataException($"AdapterFiles: '{weightsPath}' does not match the {config.PeftType} adapter built from its config: " +
                $"missing keys [{Listed(missing)}]; unexpected keys [{Listed(unexpected)}]; wrong shapes [{Listed(wrongShape)}]");
        return pairs;
    }

    // A hostile file may list a million keys: the message names the first few.
    static string Listed(List<string> items) => string.Join(", ", items.Take(20)) + (items.Count > 20 ? $", ... ({items.Count} in all)" : "");

    static PeftConfig ConfigOf(PeftModel peft, string name) => peft.PeftConfigs.TryGetValue(name, out var c) ? c
        : throw new KeyNotFoundException($"AdapterFiles: no adapter named '{name}'; adapters: [{string.Join(", ", peft.AdapterNames)}]");
}
