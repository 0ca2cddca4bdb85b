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

    /// <summary>Rebuilds the model and tokenizer of a checkpoint written by `engine train`.</summary>
    public static (Gpt Model, CharTokenizer Tokenizer, TrainingCheckpoint Info) Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"no checkpoint at '{path}'", path);
        var info = TrainingCheckpoint.ReadInfo(path);
        if (!info.Values.TryGetValue(ConfigKey, out var json) || !info.Values.TryGetValue(VocabularyKey, out var vocabulary))
            throw new InvalidDataException($"'{path}' is a checkpoint but not one of `engine train` (no {ConfigKey}/{VocabularyKey} in its metadata)");
        var config = JsonSerializer.Deserialize<GptConfig>(json) ?? throw new InvalidDataException($"'{path}': unreadable {ConfigKey}");
        var model = new Gpt(config);
        TrainingCheckpoint.Restore(path, model);
        return (model, CharTokenizer.Deserialize(vocabulary), info);
    }
}
