using System.Text.Json;
using Engine.Nn;
using Engine.Nn.Checkpoints;

namespace Engine.Cli;

/// <summary>What `engine train` stores beside the weights so `engine sample` can rebuild the model: its configuration and vocabulary.</summary>
static class NamesModelFile
{
    public const string ConfigKey = "gpt_config", VocabularyKey = "char_vocabulary";

    public static Dictionary<string, string> Values(GptConfig config, CharTokenizer tokenizer) => new()
    {
        [ConfigKey] = JsonSerializer.Serialize(config),
        [VocabularyKey] = tokenizer.Serialize(),
    };

    /// <summary>The model configuration stored in a checkpoint of `engine train`, checked before any model is built.</summary>
    /// <exception cref="InvalidDataException">The checkpoint has no configuration, or it is not valid JSON, or not a valid GPT.</exception>
    public static GptConfig ReadConfig(string path) => ReadConfig(path, ReadValues(path).Config);

    /// <summary>Rebuilds the model and tokenizer of a checkpoint written by `engine train`.</summary>
    public static (Gpt Model, CharTokenizer Tokenizer, TrainingCheckpoint Info) Load(string path)
    {
        var (info, json, vocabulary) = ReadValues(path);
        var config = ReadConfig(path, json);
        var model = new Gpt(config);
        // A model compressed by `engine compress --fwsvd` has factorised Linears: its structure is rebuilt before the weights load.
        if (info.Values.TryGetValue(Engine.Nn.Compression.LowRankGpt.MetadataKey, out var ranks))
        {
            try { Engine.Nn.Compression.LowRankGpt.Rebuild(model, ranks); }
            catch (InvalidDataException e) { throw new InvalidDataException($"'{path}': {e.Message}", e); }
        }
        TrainingCheckpoint.Restore(path, model);
        return (model, CharTokenizer.Deserialize(vocabulary), info);
    }

    static (TrainingCheckpoint Info, string Config, string Vocabulary) ReadValues(string path)
    {
        if (Directory.Exists(path))
        {
            string inside = Path.Combine(path, FinetuneCommand.FullModelFileName);
            throw new ArgumentException($"'{path}' is a folder; give the checkpoint file written by `engine train --out FILE`"
                + (File.Exists(inside) ? $" (this folder holds one: '{inside}')" : " (a .safetensors file)"));
        }
        if (!File.Exists(path)) throw new FileNotFoundException($"no checkpoint at '{path}'", path);
        if (Engine.Nn.Compression.BitStackFile.IsBitStack(path))
            throw new InvalidDataException($"'{path}' is a BitStack file of `engine compress --bitstack`; `engine sample` reads it (with --memory-budget), this command needs the checkpoint of `engine train`");
        var info = TrainingCheckpoint.ReadInfo(path);
        if (!info.Values.TryGetValue(ConfigKey, out var json) || !info.Values.TryGetValue(VocabularyKey, out var vocabulary))
            throw new InvalidDataException($"'{path}' is a checkpoint but not one of `engine train` (no {ConfigKey}/{VocabularyKey} in its metadata)");
        return (info, json, vocabulary);
    }

    internal static GptConfig ReadConfig(string path, string json)
    {
        GptConfig? config;
        try { config = JsonSerializer.Deserialize<GptConfig>(json); }
        catch (JsonException e) { throw new InvalidDataException($"'{path}': its {ConfigKey} is not valid JSON ({e.Message})", e); }
        if (config is null) throw new InvalidDataException($"'{path}': its {ConfigKey} is empty");
        if (Problem(config) is { } problem) throw new InvalidDataException($"'{path}': its {ConfigKey} is not a valid model: {problem}");
        MemoryEstimate.Require(MemoryEstimate.Gpt(config, 1, 1, training: false), $"the model in '{path}'", "the checkpoint's sizes are not usable here");
        return config;
    }

    /// <summary>What is wrong with <paramref name="c"/> as a GPT, or null.</summary>
    static string? Problem(GptConfig c)
    {
        if (c.VocabSize < 1 || c.ContextLength < 1 || c.DModel < 1 || c.Heads < 1 || c.Layers < 0 || c.MlpRatio < 1)
            return $"VocabSize {c.VocabSize}, ContextLength {c.ContextLength}, DModel {c.DModel}, Heads {c.Heads} and MlpRatio {c.MlpRatio} must be positive and Layers {c.Layers} at least 0";
        if (c.DModel % c.Heads != 0) return $"Heads {c.Heads} does not divide DModel {c.DModel}";
        if (c.KvHeads is { } kv && (kv < 1 || c.Heads % kv != 0)) return $"KvHeads {kv} does not divide Heads {c.Heads}";
        if (c.Dropout is < 0 or >= 1 || double.IsNaN(c.Dropout)) return $"Dropout {c.Dropout} is not in [0, 1)";
        if (!(c.LayerNormEps > 0) || !double.IsFinite(c.LayerNormEps)) return $"LayerNormEps {c.LayerNormEps} must be a positive finite number";
        if (c.Mixers is { } mixers && (mixers.Length != c.Layers || mixers.Any(m => !TokenMixers.Kinds.Contains(m))))
            return $"Mixers [{string.Join(", ", mixers)}] must name one of {string.Join(", ", TokenMixers.Kinds)} per layer ({c.Layers})";
        if (c.Moe?.Problem() is { } moe) return $"Moe: {moe}";
        return null;
    }
}
