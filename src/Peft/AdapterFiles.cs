using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Engine.Nn.Checkpoints;

namespace Engine.Peft;

/// <summary>
/// Hugging Face PEFT's adapter files: <c>adapter_config.json</c> (the config with PEFT's field names) and
/// <c>adapter_model.safetensors</c> with keys <c>base_model.model.&lt;module path&gt;.&lt;tensor&gt;</c>, the adapter
/// name stripped (<c>base_model.model.transformer.h.0.attn.c_attn.lora_A.weight</c>); <c>modules_to_save</c> tensors
/// as <c>base_model.model.&lt;module path&gt;.&lt;parameter&gt;</c>.
/// </summary>
public static class AdapterFiles
{
    /// <summary>The configuration file of an adapter folder.</summary>
    public const string ConfigFileName = "adapter_config.json";

    /// <summary>The weights file of an adapter folder.</summary>
    public const string WeightsFileName = "adapter_model.safetensors";

    /// <summary>PEFT's prefix of every key (PeftModel.base_model = LoraModel, whose .model is the user's model).</summary>
    public const string KeyPrefix = "base_model.model.";

    /// <summary>The tensors of adapter <paramref name="name"/> under PEFT's keys.</summary>
    public static Dictionary<string, Tensor> StateDict(PeftModel peft, string name)
    {
        var config = ConfigOf(peft, name);
        var tensors = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (path, layer) in peft.AdapterLayers())
        {
            if (!layer.AdapterNames.Contains(name)) continue;
            foreach (var (key, t) in layer.AdapterTensors(name))
                tensors[KeyPrefix + peft.Naming.ExternalPath(path) + "." + key] = t.Detach().Contiguous();
        }
        foreach (var (path, module) in peft.ModulesToSave(config))
            foreach (var (param, t) in module.NamedParameters())
                tensors[KeyPrefix + peft.Naming.ExternalPath(path) + "." + param] = t.Detach().Contiguous();
        if (config.SavesSharedTensors)
            foreach (var (key, t) in config.SharedTensors(peft, name)) tensors[key] = t.Detach().Contiguous();
        return tensors;
    }

    /// <summary>
    /// Writes adapter <paramref name="name"/> of <paramref name="peft"/> into <paramref name="folder"/>; with
    /// <paramref name="convertToLora"/>, a PiSSA/OLoRA adapter is written as the plain LoRA adapter of the same update
    /// on the original base (see <see cref="LowRank.PrincipalInitConversion"/>).
    /// </summary>
    public static void Save(PeftModel peft, string name, string folder, bool convertToLora = false)
    {
        var config = ConfigOf(peft, name);
        var tensors = StateDict(peft, name);
        if (convertToLora && config is LowRank.LoraConfig lora && lora.InitLoraWeights is LowRank.LoraInit.Pissa or LowRank.LoraInit.Olora)
            (config, tensors) = LowRank.PrincipalInitConversion.ToPlainLora(peft, name, lora, tensors);
        (config, tensors) = config.ForSaving(peft, name, tensors);
        Directory.CreateDirectory(folder);
        var json = config.ToJson();
        // Hugging Face's GPT-2 keeps these layers as Conv1D, for which PEFT records fan_in_fan_out = true.
        if (json.ContainsKey("fan_in_fan_out") && peft.AdapterLayers().Any(l => l.Layer.AdapterNames.Contains(name) && peft.Naming.IsConv1D(l.Path)))
            json["fan_in_fan_out"] = true;
        var configPath = Path.Combine(folder, ConfigFileName);
        var temporary = configPath + ".tmp-" + Guid.NewGuid().ToString("N", CultureInfo.InvariantCulture);
        File.WriteAllText(temporary, json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        File.Move(temporary, configPath, overwrite: true);
        Safetensors.Save(Path.Combine(folder, WeightsFileName), tensors, new Dictionary<string, string> { ["format"] = "pt" });
    }

    /// <summary>Reads the configuration of an adapter folder.</summary>
    /// <exception cref="FileNotFoundException">The folder has no adapter_config.json.</exception>
    public static PeftConfig ReadConfig(string folder)
    {
        var path = Path.Combine(folder, ConfigFileName);
        if (!File.Exists(path)) throw new FileNotFoundException($"AdapterFiles: '{folder}' has no {ConfigFileName}", path);
        var json = JsonNode.Parse(File.ReadAllText(path)) as JsonObject
            ?? throw new InvalidDataException($"AdapterFiles: '{path}' is not a JSON object");
        return PeftConfig.FromJson(json);
    }

    /// <summary>
    /// Adds adapter <paramref name="name"/> from <paramref name="folder"/> to <paramref name="peft"/>: the layers are
    /// built from the config (so PiSSA/OLoRA move the same principal part out of the original base weights) and the
    /// file's tensors then replace the adapter's. Every key must be used and every adapter tensor found.
    /// </summary>
    /// <exception cref="InvalidDataException">A key is missing, unexpected or has the wrong shape.</exception>
    public static void Load(PeftModel peft, string folder, string name, bool trainable)
    {
        var config = ReadConfig(folder) with { InferenceMode = !trainable };
        var weightsPath = Path.Combine(folder, WeightsFileName);
        if (!File.Exists(weightsPath)) throw new FileNotFoundException($"AdapterFiles: '{folder}' has no {WeightsFileName}", weightsPath);
        var file = Safetensors.Load(weightsPath);
        peft.AddAdapter(name, config);

        var used = new HashSet<string>(StringComparer.Ordinal);
        var missing = new List<string>();
        var targets = new List<(string Key, string[] Candidates, Tensor Target)>();
        foreach (var (path, layer) in peft.AdapterLayers())
        {
            if (!layer.AdapterNames.Contains(name)) continue;
            foreach (var (key, t) in layer.AdapterTensors(name))
            {
                string full = KeyPrefix + peft.Naming.ExternalPath(path) + "." + key;
                // Some writers keep ".weight" on the DoRA magnitude's key; PEFT drops it. Accept both.
                string[] candidates = key.EndsWith(".weight", StringComparison.Ordinal) ? [full] : [full, full + ".weight"];
                targets.Add((full, candidates, t));
            }
        }
        foreach (var (path, module) in peft.ModulesToSave(config))
            foreach (var (param, t) in module.NamedParameters())
            {
                string full = KeyPrefix + peft.Naming.ExternalPath(path) + "." + param;
                targets.Add((full, [full], t));
            }
        // Shared tensors are read when the file has them; without them the method regenerates its own (from a seed).
        foreach (var (key, t) in config.SharedTensors(peft, name))
            if (file.ContainsKey(key) || config.SavesSharedTensors) targets.Add((key, [key], t));
        var assignments = new List<(Tensor Target, Tensor Value)>();
        foreach (var (key, candidates, target) in targets)
        {
            var found = candidates.FirstOrDefault(file.ContainsKey);
            if (found is null) { missing.Add(key); continue; }
            used.Add(found);
            var value = file[found];
            if (!value.Shape.SequenceEqual(target.Shape))
                throw new InvalidDataException($"AdapterFiles: '{found}' in '{weightsPath}' has shape {Shapes.Format(value.Shape)}, the adapted model expects {Shapes.Format(target.Shape)}");
            assignments.Add((target, value));
        }
        var unexpected = file.Keys.Where(k => !used.Contains(k)).ToList();
        if (missing.Count > 0 || unexpected.Count > 0)
        {
            peft.DeleteAdapter(name);
            throw new InvalidDataException($"AdapterFiles: '{weightsPath}' does not match the adapter built from its config: missing keys [{string.Join(", ", missing)}]; unexpected keys [{string.Join(", ", unexpected)}]");
        }
        using (Autograd.Autograd.NoGrad())
            foreach (var (target, value) in assignments) target.CopyFrom(value.To(target.DType));
    }

    static PeftConfig ConfigOf(PeftModel peft, string name) => peft.PeftConfigs.TryGetValue(name, out var c) ? c
        : throw new KeyNotFoundException($"AdapterFiles: no adapter named '{name}'; adapters: [{string.Join(", ", peft.AdapterNames)}]");
}
