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

        // Every key and shape was checked above; what is left is naming and layout.
        Gpt model;
        // The header check above found every parameter in the file: skip the random values it would overwrite.
        using (Init.Skip()) model = new Gpt(config);
        var state = new Dictionary<string, Tensor>();
        using (var file = Safetensors.Open(weightsPath))
            foreach (var key in file.Names)
            {
                string hf = Hub(key);
                // Buffers the engine rebuilds, and a tied head (wte's values by construction).
                if (AttentionBuffer().IsMatch(hf) || (hf == "lm_head.weight" && config.TiedHead)) continue;
                string name = EngineName(hf);
                var value = file.Read(key);
                if (value.DType != DType.Float32) value = value.To(DType.Float32);
                state[name] = IsConv1DWeight(name) ? value.T.Contiguous() : value;
            }
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
            var block = BlockName().Match(Hub(key));
            if (block.Success && block.Groups[1].Value == "h") blocks.Add(block.Groups[2].Value);
        }
        if (blocks.Count != config.Layers)
            throw new InvalidDataException($"Gpt2Checkpoint.Load: the config's n_layer is {config.Layers}, but '{weightsPath}' holds {blocks.Count} blocks (h.0 ... h.{blocks.Count - 1})");

        // A tied head may still be stored (the Hub's older files): it must then have the embedding's shape.
        foreach (var key in file.Names.Where(k => config.TiedHead && Hub(k) == "lm_head.weight"))
        {
            var shape = file.Info(key).Shape.ToArray();
            if (!shape.SequenceEqual([config.VocabSize, config.DModel]))
                throw new InvalidDataException($"Gpt2Checkpoint.Load: '{key}' in '{weightsPath}' has shape {Shapes.Format(shape)}, the config expects {Shapes.Format([config.VocabSize, config.DModel])}");
        }
        ExpectedTensors.Check(file, HubShapes(config),
            key => Hub(key) is var hf && (AttentionBuffer().IsMatch(hf) || (hf == "lm_head.weight" && config.TiedHead)) ? null : hf,
            weightsPath, "Gpt2Checkpoint.Load", $"GPT-2 ({config.Layers} layers, width {config.DModel})");
    }

    // A key without the optional "transformer." prefix.
    static string Hub(string key) => key.StartsWith(HfPrefix, StringComparison.Ordinal) ? key[HfPrefix.Length..] : key;

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
        var json = HfConfigJson.Read(folder, "Gpt2Checkpoint", ConfigFileName);
        string? modelType = json.String("model_type");
        if (modelType is not null && modelType != "gpt2")
            throw new InvalidDataException($"Gpt2Checkpoint: '{json.Path}' describes a '{modelType}' model, not 'gpt2'");

        int width = json.Int("n_embd") ?? throw json.Missing("n_embd");
        int layers = json.Int("n_layer") ?? throw json.Missing("n_layer");
        int heads = json.Int("n_head") ?? throw json.Missing("n_head");
        int context = json.Int("n_positions") ?? json.Int("n_ctx") ?? throw json.Missing("n_positions (or n_ctx)");
        int vocab = json.Int("vocab_size") ?? throw json.Missing("vocab_size");
        double eps = json.Double("layer_norm_epsilon") ?? 1e-5;
        int inner = json.Int("n_inner") ?? 4 * width;
        bool tied = json.Bool("tie_word_embeddings") ?? true;

        string activation = json.String("activation_function") ?? "gelu_new";
        bool geluTanh = activation switch
        {
            "gelu_new" or "gelu_pytorch_tanh" => true,
            "gelu" => false,
            _ => throw json.Invalid("activation_function", $"is '{activation}'; the engine supports gelu_new, gelu_pytorch_tanh (tanh GELU) and gelu (exact)"),
        };
        void RequirePositive(int value, string field) { if (value <= 0) throw json.Invalid(field, $"is {value}; it must be positive"); }
        RequirePositive(width, "n_embd");
        if (layers < 0) throw json.Invalid("n_layer", $"is {layers}; it must be >= 0");
        RequirePositive(heads, "n_head");
        RequirePositive(context, json.Has("n_positions") ? "n_positions" : "n_ctx");
        RequirePositive(vocab, "vocab_size");
        RequirePositive(inner, "n_inner");
        if (width % heads != 0) throw json.Invalid("n_head", $"is {heads}, which does not divide n_embd {width}");
        if (!(eps > 0) || !double.IsFinite(eps)) throw json.Invalid("layer_norm_epsilon", $"is {eps}; it must be a positive finite number");
        if (inner % width != 0)
            throw new InvalidDataException($"Gpt2Checkpoint: '{json.Path}' has n_inner {inner}, which is not a multiple of n_embd {width}; the engine's MLP width is a multiple of the model width");
        if (json.Bool("scale_attn_by_inverse_layer_idx") == true || json.Bool("scale_attn_weights") == false || json.Bool("add_cross_attention") == true)
            throw new InvalidDataException($"Gpt2Checkpoint: '{json.Path}' sets scale_attn_by_inverse_layer_idx, scale_attn_weights=false or add_cross_attention, which the engine's GPT does not implement");

        double[] dropouts = [json.Double("resid_pdrop") ?? 0.1, json.Double("embd_pdrop") ?? 0.1, json.Double("attn_pdrop") ?? 0.1];
        if (dropouts.Any(p => !(p >= 0 && p < 1)))
            throw new InvalidDataException($"Gpt2Checkpoint: '{json.Path}' has dropout probabilities {string.Join(", ", dropouts)}; each must be in [0, 1)");
        if (dropouts.Distinct().Count() != 1)
            throw new InvalidDataException($"Gpt2Checkpoint: '{json.Path}' has resid_pdrop {dropouts[0]}, embd_pdrop {dropouts[1]}, attn_pdrop {dropouts[2]}; the engine's GPT has one dropout probability for all three");

        return new GptConfig(vocab, context, width, layers, heads, MlpRatio: inner / width, Dropout: dropouts[0],
            TiedHead: tied, LayerNormEps: eps, GeluTanh: geluTanh);
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
        if (c.ParallelBlocks)
            throw new ArgumentException("Gpt2Checkpoint.Save: GPT-2's blocks are sequential; this model has parallel blocks");
        if (c.Moe is not null)
            throw new ArgumentException($"Gpt2Checkpoint.Save: GPT-2 has a dense MLP in every layer; this model has a mixture of {c.Moe.Experts} experts");
        var tensors = new Dictionary<string, Tensor>();
        foreach (var (name, p) in model.NamedParameters())
        {
            // A tied head shown as a module for adapters (Gpt.ShowTiedHead) is wte itself: the Hub file has no lm_head.
            if (c.TiedHead && HfName(name) == "lm_head.weight") continue;
            tensors[HfName(name)] = (IsConv1DWeight(name) ? p.T : p).Contiguous();
        }

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
