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
        return peft.NamedAdapterTensors(name).Where(t => saved.Contains(t.Key))
            .ToDictionary(t => t.Key, t => t.Tensor.Detach().Contiguous(), StringComparer.Ordinal);
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
    /// <paramref name="convertToLora"/>, methods that moved part of the base weight into the adapter (PiSSA, OLoRA)
    /// write the plain LoRA adapter of the same update on the original base. Both files are replaced as one unit
    /// (<see cref="PretrainedFolder"/>): a save killed at any point leaves the previous adapter or this one.
    /// </summary>
    public static void Save(PeftModel peft, string name, string folder, bool convertToLora = false) =>
        // One atomic save: a reader never sees this config with the previous weights.
        PretrainedFolder.Save(folder, Files(peft, name, convertToLora));

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
        JsonNode? node;
        try { node = JsonNode.Parse(File.ReadAllText(path), documentOptions: new JsonDocumentOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip }); }
        catch (JsonException e) { throw new InvalidDataException($"AdapterFiles: '{path}' is not valid JSON: {e.Message}", e); }
        if (node is not JsonObject json) throw new InvalidDataException($"AdapterFiles: '{path}' is not a JSON object");
        return PeftConfig.FromJson(json, path);
    }

    /// <summary>
    /// Adds adapter <paramref name="name"/> from <paramref name="folder"/> to <paramref name="peft"/>: the layers are
    /// built from the config (so PiSSA/OLoRA move the same principal part out of the original base weights) and the
    /// file's tensors then replace the adapter's. All or nothing: every key must be used and every saved tensor found
    /// with its shape, else the adapter is removed again and the model is as it was.
    /// </summary>
    /// <exception cref="InvalidDataException">A key is missing, unexpected or has the wrong shape (all are named).</exception>
    public static void Load(PeftModel peft, string folder, string name, bool trainable)
    {
        var config = ReadConfig(folder) with { InferenceMode = !trainable };
        var weightsPath = Path.Combine(folder, WeightsFileName);
        if (!File.Exists(weightsPath)) throw new FileNotFoundException($"AdapterFiles: '{folder}' has no {WeightsFileName}", weightsPath);
        var file = Safetensors.Load(weightsPath);
        // Adding the adapter freezes the base; a failed load must leave every parameter's RequiresGrad as it was too.
        var requiresGrad = peft.Parameters().Where(p => p.RequiresGrad).ToHashSet(ReferenceEqualityComparer.Instance);
        try { peft.AddAdapter(name, config, fromFile: true); }
        catch (ArgumentException e) { throw new InvalidDataException($"AdapterFiles: '{folder}': {e.Message}", e); }

        // Every tensor must come from the file, shared ones too even when the config says they are not saved: VeRA's
        // projections come from torch's generator in PEFT, which the engine cannot reproduce.
        var expected = peft.NamedAdapterTensors(name).Select(t => t.Key).ToHashSet(StringComparer.Ordinal);
        var used = new HashSet<string>(StringComparer.Ordinal);
        var missing = new List<string>();
        var wrongShape = new List<string>();
        var assignments = new List<(Tensor Target, Tensor Value)>();
        foreach (var t in peft.NamedAdapterTensors(name).Where(t => expected.Contains(t.Key)))
        {
            // Some writers keep ".weight" on the DoRA magnitude's key; PEFT drops it. Accept both.
            var found = new[] { t.Key, t.Key + ".weight" }.FirstOrDefault(file.ContainsKey);
            if (found is null) { missing.Add(t.Key); continue; }
            used.Add(found);
            var value = file[found];
            if (!value.Shape.SequenceEqual(t.Tensor.Shape)) { wrongShape.Add($"{found} {Shapes.Format(value.Shape)} (expected {Shapes.Format(t.Tensor.Shape)})"); continue; }
            assignments.Add((t.Tensor, value));
        }
        var unexpected = file.Keys.Where(k => !used.Contains(k)).ToList();
        if (missing.Count > 0 || unexpected.Count > 0 || wrongShape.Count > 0)
        {
            peft.DeleteAdapter(name);
            foreach (var p in peft.Parameters()) p.RequiresGrad = requiresGrad.Contains(p);
            throw new InvalidDataException($"AdapterFiles: '{weightsPath}' does not match the {config.PeftType} adapter built from its config: " +
                $"missing keys [{string.Join(", ", missing)}]; unexpected keys [{string.Join(", ", unexpected)}]; wrong shapes [{string.Join(", ", wrongShape)}]");
        }
        using (Autograd.Autograd.NoGrad())
            foreach (var (target, value) in assignments) target.CopyFrom(value.To(target.DType));
    }

    static PeftConfig ConfigOf(PeftModel peft, string name) => peft.PeftConfigs.TryGetValue(name, out var c) ? c
        : throw new KeyNotFoundException($"AdapterFiles: no adapter named '{name}'; adapters: [{string.Join(", ", peft.AdapterNames)}]");
}
