using Engine.Nn;

namespace Engine.Cli;

/// <summary>
/// A model named on the command line: a Hugging Face GPT-2 folder (config.json + model.safetensors, optionally
/// vocab.json + merges.txt) or a checkpoint file written by <c>engine train</c>.
/// </summary>
sealed record ModelSource(Gpt Model, TextCodec? Tokenizer)
{
    /// <summary>Loads the model in evaluation mode; a folder's tokenizer is null when it ships none.</summary>
    public static ModelSource Load(string path)
    {
        if (Directory.Exists(path)) return new ModelSource(Gpt2Checkpoint.Load(path), TextCodec.FromFolder(path));
        if (File.Exists(path))
        {
            var (model, tokenizer, _) = NamesModelFile.Load(path);
            model.Eval();
            return new ModelSource(model, new TextCodec.Characters(tokenizer));
        }
        throw new FileNotFoundException($"no model folder or checkpoint file at '{path}'", path);
    }
}
