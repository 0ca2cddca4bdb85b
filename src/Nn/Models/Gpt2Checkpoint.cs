using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Engine.Nn.Checkpoints;

namespace Engine.Nn;

/// <summary>
/// Loads and saves Hugging Face GPT-2 checkpoints (a folder with <c>config.json</c> and <c>model.safetensors</c>) as the
/// engine's <see cref="Gpt"/>. Names map one-to-one through <see cref="HfName"/> and <see cref="EngineName"/>
/// (<c>blocks.0.attn.qkv.weight</c> ↔ <c>h.0.attn.c_attn.weight</c>); GPT-2's Conv1D layers store weights as
/// [in, out], so those are transposed into the engine's Linear [out, in] (see <see cref="IsConv1DWeight"/>).
/// Example: <c>var gpt = Gpt2Checkpoint.Load("models/gpt2"); var logits = gpt.Forward(ids);</c>
/// </summary>
public static partial class Gpt2Checkpoint
{
    /// <summary>The configuration file of a checkpoint folder.</summary>
    public const string ConfigFileName = "config.json";

    /// <summary>The weights file of a checkpoint folder.</summary>
    public const string WeightsFileName = "model.safetensors";

    // Module paths outside the blocks, then inside block i (engine name, Hugging Face name).
    static readonly (string Engine, string Hf)[] TopModules = [("tok", "wte"), ("pos", "wpe"), ("ln_f", "ln_f"), ("head", "lm_head")];
    static readonly (string Engine, string Hf)[] BlockModules =
        [("ln1", "ln_1"), ("attn.qkv", "attn.c_attn"), ("attn.proj", "attn.c_proj"), ("ln2", "ln_2"), ("mlp.fc", "mlp.c_fc"), ("mlp.proj", "mlp.c_proj")];
    const string HfPrefix = "transformer.";

    [GeneratedRegex(@"^(blocks|h)\.(\d+)\.(.+)$")]
    private static partial Regex BlockName();

    // The causal-mask buffers that older GPT-2 checkpoints store; the engine builds its mask on the fly.
    [GeneratedRegex(@"^h\.\d+\.attn\.(bias|masked_bias)$")]
    private static partial Regex AttentionBuffer();

    /// <summary>
    /// The Hugging Face name (without the <c>transformer.</c> prefix) of an engine parameter name.
    /// Example: <c>HfName("blocks.3.mlp.fc.bias") == "h.3.mlp.c_fc.bias"</c>, <c>HfName("tok.weight") == "wte.weight"</c>.
    /// </summary>
    /// <exception cref="ArgumentException">The name is not a GPT-2 parameter of the engine's <see cref="Gpt"/>.</exception>
    public static string HfName(string engineName) => Translate(engineName, toHf: true);

    /// <summary>
    /// The engine parameter name of a Hugging Face GPT-2 name, with or without the <c>transformer.</c> prefix
    /// (the inverse of <see cref="HfName"/>). Example: <c>EngineName("transformer.h.0.ln_1.weight") == "blocks.0.ln1.weight"</c>.
    /// </summary>
    /// <exception cref="ArgumentException">The name is not a GPT-2 parameter.</exception>
    public static string EngineName(string hfName)
        => Translate(hfName.StartsWith(HfPrefix, StringComparison.Ordinal) ? hfName[HfPrefix.Length..] : hfName, toHf: false);

    /// <summary>
    /// True for the engine parameters that GPT-2 keeps in Conv1D layers, whose weights are stored [in, out], the
    /// transpose of the engine's Linear [out, in]: the weights of <c>attn.qkv</c>, <c>attn.proj</c>, <c>mlp.fc</c>, <c>mlp.proj</c>.
    /// </summary>
    public static bool IsConv1DWeight(string engineName)
    {
        var block = BlockName().Match(engineName);
        return block.Success && block.Groups[1].Value == "blocks" && engineName.EndsWith(".weight", StringComparison.Ordinal)
            && (block.Groups[3].Value.StartsWith("attn.", StringComparison.Ordinal) || block.Groups[3].Value.StartsWith("mlp.", StringComparison.Ordinal));
    }

    static string Translate(string name, bool toHf)
    {
        string side = toHf ? "engine" : "Hugging Face GPT-2";
        int dot = name.LastIndexOf('.');
        string leaf = dot < 0 ? "" : name[(dot + 1)..];
        if (leaf != "weight" && leaf != "bias")
            throw new ArgumentException($"Gpt2Checkpoint: '{name}' is not a {side} parameter name (it must end in .weight or .bias)");
        string module = name[..dot];

        var block = BlockName().Match(module + ".");
        if (block.Success && block.Groups[1].Value == (toHf ? "blocks" : "h"))
        {
            string inner = block.Groups[3].Value.TrimEnd('.');
            foreach (var (engine, hf) in BlockModules)
                if (inner == (toHf ? engine : hf))
                    return $"{(toHf ? "h" : "blocks")}.{block.Groups[2].Value}.{(toHf ? hf : engine)}.{leaf}";
        }
        else
        {
            foreach (var (engine, hf) in TopModules)
                if (module == (toHf ? engine : hf))
                    return $"{(toHf ? hf : engine)}.{leaf}";
        }
        throw new ArgumentException($"Gpt2Checkpoint: '{name}' is not a {side} parameter name");
    }

    /// <summary>
    /// Reads a Hugging Face GPT-2 folder: <c>config.json</c> (see <see cref="ReadConfig"/>) and <c>model.safetensors</c>
    /// (keys with or without the <c>transformer.</c> prefix; <c>lm_head.weight</c> optional when tied;
    /// <c>attn.bias</c>/<c>attn.masked_bias</c> buffers ignored; F16/BF16 weights widened to Float32).
    /// The model comes back in evaluation mode, as <c>from_pretrained</c> returns it.
    /// Example: <c>var gpt = Gpt2Checkpoint.Load("models/gpt2");</c>
    /// </summary>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    /// <exception cref="FileNotFoundException">config.json or model.safetensors is missing.</exception>
    /// <exception cref="InvalidDataException">The config cannot be represented, a key is missing, unexpected or has the wrong shape, or the folder holds a commit record no save wrote.</exception>
    public static Gpt Load(string folder)
    {
        var config = ReadConfig(folder);
        var weightsPath = Path.Combine(folder, WeightsFileName);
        if (!File.Exists(weightsPath))
            throw new FileNotFoundException($"Gpt2Checkpoint.Load: '{folder}' has no {WeightsFileName} (only safetensors weights are read; convert pytorch_model.bin first)", weightsPath);

        // The whole file is checked against the config before the model is built, so a config that describes a
        // huge model (n_layer 100000) fails in milliseconds without allocating it.
        using (var file = Safetensors.Open(weightsPath))
            CheckHeaderAgainstConfig(file, config, weightsPath);

        var model = new Gpt(config);
        var expected = model.StateDict();
        var state = new Dictionary<string, Tensor>();
        var unexpected = new List<string>();
        using (var file = Safetensors.Open(weightsPath))
        {
            foreach (var key in file.Names)
            {
                string hf = key.StartsWith(HfPrefix, StringComparison.Ordinal) ? key[HfPrefix.Length..] : key;
                if (AttentionBuffer().IsMatch(hf)) continue;
                if (hf == "lm_head.weight" && config.TiedHead)
                {
                    // Tied to wte: same values by construction; only its shape is worth checking.
                    CheckShape(key, file.Info(key).Shape.ToArray(), [config.VocabSize, config.DModel], weightsPath);
                    continue;
                }
                string name;
                try { name = EngineName(hf); }
                catch (ArgumentException) { unexpected.Add(key); continue; }
                if (!expected.TryGetValue(name, out var target)) { unexpected.Add(key); continue; }
                if (state.ContainsKey(name))
                    throw new InvalidDataException($"Gpt2Checkpoint.Load: '{weightsPath}' holds '{hf}' twice (with and without the '{HfPrefix}' prefix)");

                bool conv1D = IsConv1DWeight(name);
                int[] hfShape = conv1D ? [target.Size(1), target.Size(0)] : target.Shape;
                CheckShape(key, file.Info(key).Shape.ToArray(), hfShape, weightsPath);
                var value = file.Read(key);
                if (value.DType != DType.Float32) value = value.To(DType.Float32);
                state[name] = conv1D ? value.T.Contiguous() : value;
            }
        }
        var missing = expected.Keys.Where(k => !state.ContainsKey(k)).Select(HfName).ToList();
        if (missing.Count > 0 || unexpected.Count > 0)
            throw new InvalidDataException($"Gpt2Checkpoint.Load: '{weightsPath}' does not match the GPT-2 of its config " +
                $"({config.Layers} layers, width {config.DModel}): missing keys [{string.Join(", ", missing)}]; unexpected keys [{string.Join(", ", unexpected)}]");
        model.LoadStateDict(state);
        model.Eval();
        return model;
    }

    // The Hub's GPT-2 tensors (names without the prefix, Conv1D weights [in, out]) that a config implies.
    static Dictionary<string, int[]> HubShapes(GptConfig c)
    {
        int C = c.DModel, inner = c.MlpRatio * c.DModel;
        var shapes = new Dictionary<string, int[]>(StringComparer.Ordinal)
        {
            ["wte.weight"] = [c.VocabSize, C], ["wpe.weight"] = [c.ContextLength, C], ["ln_f.weight"] = [C], ["ln_f.bias"] = [C],
        };
        if (!c.TiedHead) shapes["lm_head.weight"] = [c.VocabSize, C];
        for (int i = 0; i < c.Layers; i++)
        {
            shapes[$"h.{i}.ln_1.weight"] = [C]; shapes[$"h.{i}.ln_1.bias"] = [C];
            shapes[$"h.{i}.attn.c_attn.weight"] = [C, 3 * C]; shapes[$"h.{i}.attn.c_attn.bias"] = [3 * C];
            shapes[$"h.{i}.attn.c_proj.weight"] = [C, C]; shapes[$"h.{i}.attn.c_proj.bias"] = [C];
            shapes[$"h.{i}.ln_2.weight"] = [C]; shapes[$"h.{i}.ln_2.bias"] = [C];
            shapes[$"h.{i}.mlp.c_fc.weight"] = [C, inner]; shapes[$"h.{i}.mlp.c_fc.bias"] = [inner];
            shapes[$"h.{i}.mlp.c_proj.weight"] = [inner, C]; shapes[$"h.{i}.mlp.c_proj.bias"] = [C];
        }
        return shapes;
    }

    static void CheckHeaderAgainstConfig(SafetensorsFile file, GptConfig config, string weightsPath)
    {
        var blocks = new HashSet<string>(StringComparer.Ordinal);
        foreach (var key in file.Names)
        {
            string hf = key.StartsWith(HfPrefix, StringComparison.Ordinal) ? key[HfPrefix.Length..] : key;
            var block = BlockName().Match(hf);
            if (block.Success && block.Groups[1].Value == "h") blocks.Add(block.Groups[2].Value);
        }
        if (blocks.Count != config.Layers)
            throw new InvalidDataException($"Gpt2Checkpoint.Load: the config's n_layer is {config.Layers}, but '{weightsPath}' holds {blocks.Count} blocks (h.0 ... h.{blocks.Count - 1})");

        var expected = HubShapes(config);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var unexpected = new List<string>();
        foreach (var key in file.Names)
        {
            string hf = key.StartsWith(HfPrefix, StringComparison.Ordinal) ? key[HfPrefix.Length..] : key;
            if (AttentionBuffer().IsMatch(hf)) continue;
            if (hf == "lm_head.weight" && config.TiedHead)
            {
                CheckShape(key, file.Info(key).Shape.ToArray(), [config.VocabSize, config.DModel], weightsPath);
                continue;
            }
            if (!expected.TryGetValue(hf, out var shape)) { unexpected.Add(key); continue; }
            if (!seen.Add(hf))
                throw new InvalidDataException($"Gpt2Checkpoint.Load: '{weightsPath}' holds '{hf}' twice (with and without the '{HfPrefix}' prefix)");
            CheckShape(key, file.Info(key).Shape.ToArray(), shape, weightsPath);
        }
        var missing = expected.Keys.Where(k => !seen.Contains(k)).ToList();
        if (missing.Count > 0 || unexpected.Count > 0)
            throw new InvalidDataException($"Gpt2Checkpoint.Load: '{weightsPath}' does not match the GPT-2 of its config " +
                $"({config.Layers} layers, width {config.DModel}): missing keys [{string.Join(", ", missing.Take(20))}{(missing.Count > 20 ? ", ..." : "")}]; " +
                $"unexpected keys [{string.Join(", ", unexpected.Take(20))}{(unexpected.Count > 20 ? ", ..." : "")}]");
    }

    static void CheckShape(string key, int[] actual, int[] expected, string path)
    {
        if (!actual.SequenceEqual(expected))
            throw new InvalidDataException($"Gpt2Checkpoint.Load: '{key}' in '{path}' has shape {Shapes.Format(actual)}, the config expects {Shapes.Format(expected)}");
    }

    /// <summary>
    /// Reads the GPT-2 shape from <c>config.json</c>: <c>n_embd</c>, <c>n_layer</c>, <c>n_head</c>, <c>n_positions</c>
    /// (or <c>n_ctx</c>), <c>vocab_size</c>, <c>layer_norm_epsilon</c> (default 1e-5), <c>activation_function</c>
    /// (<c>gelu_new</c> or <c>gelu_pytorch_tanh</c>: tanh GELU; <c>gelu</c>: exact; default gelu_new), <c>n_inner</c>
    /// (a multiple of n_embd, default 4 n_embd), <c>tie_word_embeddings</c> (default true) and the dropout
    /// probabilities (which must agree, default 0.1).
    /// </summary>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    /// <exception cref="FileNotFoundException">config.json is missing.</exception>
    /// <exception cref="InvalidDataException">A field is missing, has the wrong type, or asks for something the engine's GPT does not do.</exception>
    public static GptConfig ReadConfig(string folder)
    {
        if (!Directory.Exists(folder))
            throw new DirectoryNotFoundException($"Gpt2Checkpoint: checkpoint folder '{folder}' does not exist");
        PretrainedFolder.Recover(folder);
        var path = Path.Combine(folder, ConfigFileName);
        if (!File.Exists(path))
            throw new FileNotFoundException($"Gpt2Checkpoint: '{folder}' has no {ConfigFileName}", path);

        JsonObject json;
        try
        {
            // Parsed as a document first: JsonObject would throw a bare ArgumentException on a repeated key.
            using var document = JsonDocument.Parse(File.ReadAllText(path));
            if (document.RootElement.ValueKind != JsonValueKind.Object)
                throw new InvalidDataException($"Gpt2Checkpoint: '{path}' is not a JSON object");
            var names = new HashSet<string>(StringComparer.Ordinal);
            foreach (var property in document.RootElement.EnumerateObject())
                if (!names.Add(property.Name))
                    throw new InvalidDataException($"Gpt2Checkpoint: '{path}' field '{property.Name}' appears twice");
            json = JsonObject.Create(document.RootElement.Clone())!;
        }
        catch (JsonException e) { throw new InvalidDataException($"Gpt2Checkpoint: '{path}' is not valid JSON: {e.Message}", e); }

        string? modelType = String(json, "model_type", path);
        if (modelType is not null && modelType != "gpt2")
            throw new InvalidDataException($"Gpt2Checkpoint: '{path}' describes a '{modelType}' model, not 'gpt2'");

        int width = Int(json, "n_embd", path) ?? throw Missing("n_embd", path);
        int layers = Int(json, "n_layer", path) ?? throw Missing("n_layer", path);
        int heads = Int(json, "n_head", path) ?? throw Missing("n_head", path);
        int context = Int(json, "n_positions", path) ?? Int(json, "n_ctx", path) ?? throw Missing("n_positions (or n_ctx)", path);
        int vocab = Int(json, "vocab_size", path) ?? throw Missing("vocab_size", path);
        double eps = Double(json, "layer_norm_epsilon", path) ?? 1e-5;
        int inner = Int(json, "n_inner", path) ?? 4 * width;
        bool tied = Bool(json, "tie_word_embeddings", path) ?? true;

        string activation = String(json, "activation_function", path) ?? "gelu_new";
        bool geluTanh = activation switch
        {
            "gelu_new" or "gelu_pytorch_tanh" => true,
            "gelu" => false,
            _ => throw new InvalidDataException($"Gpt2Checkpoint: '{path}' asks for activation_function '{activation}'; the engine supports gelu_new, gelu_pytorch_tanh (tanh GELU) and gelu (exact)"),
        };
        RequirePositive(width, "n_embd", path);
        if (layers < 0) throw new InvalidDataException($"Gpt2Checkpoint: '{path}' field 'n_layer' is {layers}; it must be >= 0");
        RequirePositive(heads, "n_head", path);
        RequirePositive(context, json.ContainsKey("n_positions") ? "n_positions" : "n_ctx", path);
        RequirePositive(vocab, "vocab_size", path);
        RequirePositive(inner, "n_inner", path);
        if (width % heads != 0)
            throw new InvalidDataException($"Gpt2Checkpoint: '{path}' field 'n_head' is {heads}, which does not divide n_embd {width}");
        if (!(eps > 0) || !double.IsFinite(eps))
            throw new InvalidDataException($"Gpt2Checkpoint: '{path}' field 'layer_norm_epsilon' is {eps}; it must be a positive finite number");
        if (inner % width != 0)
            throw new InvalidDataException($"Gpt2Checkpoint: '{path}' has n_inner {inner}, which is not a multiple of n_embd {width}; the engine's MLP width is a multiple of the model width");
        if (Bool(json, "scale_attn_by_inverse_layer_idx", path) == true || Bool(json, "scale_attn_weights", path) == false || Bool(json, "add_cross_attention", path) == true)
            throw new InvalidDataException($"Gpt2Checkpoint: '{path}' sets scale_attn_by_inverse_layer_idx, scale_attn_weights=false or add_cross_attention, which the engine's GPT does not implement");

        double[] dropouts = [Double(json, "resid_pdrop", path) ?? 0.1, Double(json, "embd_pdrop", path) ?? 0.1, Double(json, "attn_pdrop", path) ?? 0.1];
        if (dropouts.Any(p => !(p >= 0 && p < 1)))
            throw new InvalidDataException($"Gpt2Checkpoint: '{path}' has dropout probabilities {string.Join(", ", dropouts)}; each must be in [0, 1)");
        if (dropouts.Distinct().Count() != 1)
            throw new InvalidDataException($"Gpt2Checkpoint: '{path}' has resid_pdrop {dropouts[0]}, embd_pdrop {dropouts[1]}, attn_pdrop {dropouts[2]}; the engine's GPT has one dropout probability for all three");

        return new GptConfig(vocab, context, width, layers, heads, MlpRatio: inner / width, Dropout: dropouts[0],
            TiedHead: tied, LayerNormEps: eps, GeluTanh: geluTanh);
    }

    static void RequirePositive(int value, string field, string path)
    {
        if (value <= 0) throw new InvalidDataException($"Gpt2Checkpoint: '{path}' field '{field}' is {value}; it must be positive");
    }

    static InvalidDataException Missing(string field, string path) => new($"Gpt2Checkpoint: '{path}' lacks the field '{field}'");

    static JsonNode? Field(JsonObject json, string name) => json.TryGetPropertyValue(name, out var node) ? node : null;

    static int? Int(JsonObject json, string name, string path)
    {
        var node = Field(json, name);
        if (node is null) return null;
        try { return node.GetValue<int>(); }
        catch (Exception e) when (e is FormatException or InvalidOperationException)
        { throw new InvalidDataException($"Gpt2Checkpoint: '{path}' field '{name}' is {node.ToJsonString()}, expected an integer", e); }
    }

    static double? Double(JsonObject json, string name, string path)
    {
        var node = Field(json, name);
        if (node is null) return null;
        try { return node.GetValue<double>(); }
        catch (Exception e) when (e is FormatException or InvalidOperationException)
        { throw new InvalidDataException($"Gpt2Checkpoint: '{path}' field '{name}' is {node.ToJsonString()}, expected a number", e); }
    }

    static bool? Bool(JsonObject json, string name, string path)
    {
        var node = Field(json, name);
        if (node is null) return null;
        try { return node.GetValue<bool>(); }
        catch (Exception e) when (e is FormatException or InvalidOperationException)
        { throw new InvalidDataException($"Gpt2Checkpoint: '{path}' field '{name}' is {node.ToJsonString()}, expected true or false", e); }
    }

    static string? String(JsonObject json, string name, string path)
    {
        var node = Field(json, name);
        if (node is null) return null;
        try { return node.GetValue<string>(); }
        catch (Exception e) when (e is FormatException or InvalidOperationException)
        { throw new InvalidDataException($"Gpt2Checkpoint: '{path}' field '{name}' is {node.ToJsonString()}, expected a string", e); }
    }

    /// <summary>
    /// Writes <paramref name="model"/> as a Hugging Face GPT-2 folder that <see cref="Load"/> and transformers'
    /// <c>GPT2LMHeadModel.from_pretrained</c> read: <c>config.json</c> and <c>model.safetensors</c> with the Hub's key
    /// names (no <c>transformer.</c> prefix; <c>lm_head.weight</c> only when the head is untied) and Conv1D weights [in, out].
    /// Both files are replaced as one unit (<see cref="PretrainedFolder"/>): a save killed at any point leaves a folder
    /// that loads as the previous version or this one. Example: <c>Gpt2Checkpoint.Save(gpt, "out/gpt2-finetuned");</c>
    /// </summary>
    /// <exception cref="ArgumentException">The model uses rotary positions, grouped-query heads or token mixers other than attention, which GPT-2 cannot express.</exception>
    public static void Save(Gpt model, string folder)
    {
        var c = model.Config;
        if (c.Rotary || (c.KvHeads ?? c.Heads) != c.Heads)
            throw new ArgumentException($"Gpt2Checkpoint.Save: GPT-2 has learned positions and one key/value head per query head; this model has Rotary={c.Rotary}, KvHeads={c.KvHeads}");
        if (c.Mixers is not null && c.Mixers.Any(m => m != TokenMixers.Attention))
            throw new ArgumentException($"Gpt2Checkpoint.Save: GPT-2 has attention in every layer; this model's token mixers are [{string.Join(", ", c.Mixers)}]");
        var tensors = new Dictionary<string, Tensor>();
        foreach (var (name, p) in model.NamedParameters())
            tensors[HfName(name)] = (IsConv1DWeight(name) ? p.T : p).Contiguous();

        var config = new JsonObject
        {
            ["model_type"] = "gpt2",
            ["architectures"] = new JsonArray("GPT2LMHeadModel"),
            ["vocab_size"] = c.VocabSize,
            ["n_positions"] = c.ContextLength,
            ["n_ctx"] = c.ContextLength,
            ["n_embd"] = c.DModel,
            ["n_layer"] = c.Layers,
            ["n_head"] = c.Heads,
            ["n_inner"] = c.MlpRatio * c.DModel,
            ["activation_function"] = c.GeluTanh ? "gelu_new" : "gelu",
            ["layer_norm_epsilon"] = c.LayerNormEps,
            ["resid_pdrop"] = c.Dropout,
            ["embd_pdrop"] = c.Dropout,
            ["attn_pdrop"] = c.Dropout,
            ["tie_word_embeddings"] = c.TiedHead,
        };
        // One atomic save: a reader never sees this config with the previous weights.
        PretrainedFolder.Save(folder, PretrainedFile.Json(ConfigFileName, config),
            PretrainedFile.Safetensors(WeightsFileName, tensors, new Dictionary<string, string> { ["format"] = "pt" }));
    }
}
