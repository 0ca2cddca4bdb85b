using System.Text.Json;
using System.Text.Json.Nodes;
using Engine.Nn.Checkpoints;

namespace Engine.Nn;

/// <summary>
/// Loads and saves Hugging Face BERT checkpoints (a folder with <c>config.json</c> and <c>model.safetensors</c>) as the
/// engine's <see cref="Bert"/>, whose parameter names are Hugging Face's <c>BertModel</c> names. Keys may carry the
/// <c>bert.</c> prefix of the task models (BertForSequenceClassification, ...); their heads (<c>cls.*</c>,
/// <c>classifier.*</c>) and the <c>embeddings.position_ids</c> buffer are ignored, as <c>BertModel.from_pretrained</c>
/// ignores them. Example: <c>var bert = BertCheckpoint.Load("models/all-MiniLM-L6-v2");</c>
/// </summary>
public static class BertCheckpoint
{
    /// <summary>The configuration file of a checkpoint folder.</summary>
    public const string ConfigFileName = "config.json";

    /// <summary>The weights file of a checkpoint folder.</summary>
    public const string WeightsFileName = "model.safetensors";

    const string Owner = nameof(BertCheckpoint);

    /// <summary>
    /// Reads a folder; the weight file's header is checked against the config before the model is built. The model
    /// comes back in evaluation mode, as <c>from_pretrained</c> returns it; F16/BF16 weights are widened to Float32.
    /// </summary>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    /// <exception cref="FileNotFoundException">config.json or model.safetensors is missing.</exception>
    /// <exception cref="InvalidDataException">The config is not a BERT the engine builds, or a key is missing, unexpected or of the wrong shape.</exception>
    public static Bert Load(string folder)
    {
        var config = ReadConfig(folder);
        var weightsPath = Path.Combine(folder, WeightsFileName);
        if (!File.Exists(weightsPath)) throw new FileNotFoundException($"{Owner}.Load: '{folder}' has no {WeightsFileName}", weightsPath);
        var expected = ParameterShapes(config);
        var state = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        using (var file = Safetensors.Open(weightsPath))
        {
            ExpectedTensors.Check(file, expected, EngineName, weightsPath, Owner + ".Load", $"BERT ({config.Layers} layers, width {config.Hidden})");
            foreach (var key in file.Names)
                if (EngineName(key) is { } name)
                {
                    var value = file.Read(key);
                    state[name] = value.DType == DType.Float32 ? value : value.To(DType.Float32);
                }
        }
        Bert model;
        // ExpectedTensors checked that the file holds every parameter: skip the random values it would overwrite.
        using (Init.Skip()) model = new Bert(config);
        model.LoadStateDict(state);
        model.Eval();
        return model;
    }

    /// <summary>
    /// The parameter names and shapes of a <see cref="Bert"/> of this config, computed without building it (they are
    /// Hugging Face's BertModel keys without a prefix).
    /// </summary>
    public static Dictionary<string, int[]> ParameterShapes(BertConfig c)
    {
        int h = c.Hidden;
        var shapes = new Dictionary<string, int[]>(StringComparer.Ordinal)
        {
            ["embeddings.word_embeddings.weight"] = [c.VocabSize, h],
            ["embeddings.position_embeddings.weight"] = [c.MaxPositions, h],
            ["embeddings.token_type_embeddings.weight"] = [c.TypeVocabSize, h],
            ["embeddings.LayerNorm.weight"] = [h], ["embeddings.LayerNorm.bias"] = [h],
            ["pooler.dense.weight"] = [h, h], ["pooler.dense.bias"] = [h],
        };
        for (int i = 0; i < c.Layers; i++)
        {
            string l = $"encoder.layer.{i}.";
            foreach (var p in new[] { "attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense" })
            {
                shapes[$"{l}{p}.weight"] = [h, h]; shapes[$"{l}{p}.bias"] = [h];
            }
            shapes[$"{l}attention.output.LayerNorm.weight"] = [h]; shapes[$"{l}attention.output.LayerNorm.bias"] = [h];
            shapes[$"{l}intermediate.dense.weight"] = [c.Intermediate, h]; shapes[$"{l}intermediate.dense.bias"] = [c.Intermediate];
            shapes[$"{l}output.dense.weight"] = [h, c.Intermediate]; shapes[$"{l}output.dense.bias"] = [h];
            shapes[$"{l}output.LayerNorm.weight"] = [h]; shapes[$"{l}output.LayerNorm.bias"] = [h];
        }
        return shapes;
    }

    // A file key as the engine's parameter name; null for keys BertModel ignores.
    static string? EngineName(string key)
    {
        var name = key.StartsWith("bert.", StringComparison.Ordinal) ? key["bert.".Length..] : key;
        if (name == "embeddings.position_ids" || key.StartsWith("cls.", StringComparison.Ordinal) || key.StartsWith("classifier.", StringComparison.Ordinal)) return null;
        return name;
    }

    /// <summary>
    /// Reads the BERT shape from <c>config.json</c>: <c>model_type</c> "bert" (when present), <c>vocab_size</c>,
    /// <c>hidden_size</c>, <c>num_hidden_layers</c>, <c>num_attention_heads</c>, <c>intermediate_size</c>,
    /// <c>max_position_embeddings</c>, <c>type_vocab_size</c>, <c>layer_norm_eps</c> (default 1e-12),
    /// <c>hidden_dropout_prob</c> and <c>attention_probs_dropout_prob</c> (default 0.1); <c>hidden_act</c> must be
    /// "gelu" and <c>position_embedding_type</c> "absolute", the only forms the engine builds.
    /// </summary>
    /// <exception cref="InvalidDataException">A field is missing, of the wrong type or out of range (named with the file).</exception>
    public static BertConfig ReadConfig(string folder)
    {
        var json = HfConfigJson.Read(folder, Owner, ConfigFileName);
        var modelType = json.String("model_type");
        if (modelType is not null && modelType != "bert")
            throw json.Invalid("model_type", $"is '{modelType}'; this loader reads 'bert'");
        var activation = json.String("hidden_act") ?? "gelu";
        if (activation != "gelu") throw json.Invalid("hidden_act", $"is '{activation}'; the engine's BERT uses 'gelu' (erf)");
        var positions = json.String("position_embedding_type") ?? "absolute";
        if (positions != "absolute") throw json.Invalid("position_embedding_type", $"is '{positions}'; the engine's BERT has absolute positions");

        int hidden = json.PositiveInt("hidden_size"), heads = json.PositiveInt("num_attention_heads");
        if (hidden % heads != 0) throw json.Invalid("num_attention_heads", $"is {heads}, which does not divide hidden_size {hidden}");
        double eps = json.Double("layer_norm_eps") ?? 1e-12;
        if (!(eps > 0) || !double.IsFinite(eps)) throw json.Invalid("layer_norm_eps", $"is {eps}; it must be a positive finite number");
        double Probability(string field)
        {
            double p = json.Double(field) ?? 0.1;
            if (!(p >= 0 && p < 1)) throw json.Invalid(field, $"is {p}; it must be in [0, 1)");
            return p;
        }
        return new BertConfig(json.PositiveInt("vocab_size"), hidden, json.PositiveInt("num_hidden_layers"), heads,
            json.PositiveInt("intermediate_size"), json.PositiveInt("max_position_embeddings"), json.Int("type_vocab_size") is null ? 2 : json.PositiveInt("type_vocab_size"),
            eps, Probability("hidden_dropout_prob"), Probability("attention_probs_dropout_prob"));
    }

    /// <summary>Writes <paramref name="model"/> as a Hugging Face BertModel folder (config.json + model.safetensors).</summary>
    public static void Save(Bert model, string folder)
    {
        var c = model.Config;
        var config = new JsonObject
        {
            ["model_type"] = "bert",
            ["architectures"] = new JsonArray("BertModel"),
            ["vocab_size"] = c.VocabSize,
            ["hidden_size"] = c.Hidden,
            ["num_hidden_layers"] = c.Layers,
            ["num_attention_heads"] = c.Heads,
            ["intermediate_size"] = c.Intermediate,
            ["max_position_embeddings"] = c.MaxPositions,
            ["type_vocab_size"] = c.TypeVocabSize,
            ["layer_norm_eps"] = c.LayerNormEps,
            ["hidden_act"] = "gelu",
            ["hidden_dropout_prob"] = c.Dropout,
            ["attention_probs_dropout_prob"] = c.AttentionDropout,
            ["position_embedding_type"] = "absolute",
        };
        var tensors = model.NamedParameters().ToDictionary(p => p.Name, p => p.Parameter.Detach().Contiguous());
        // Both files are replaced as one unit: a save killed at any point leaves the previous model or this one.
        PretrainedFolder.Save(folder, PretrainedFile.Json(ConfigFileName, config),
            PretrainedFile.Safetensors(WeightsFileName, tensors, new Dictionary<string, string> { ["format"] = "pt" }));
    }
}
