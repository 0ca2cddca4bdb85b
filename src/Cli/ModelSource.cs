using Engine.Nn;

namespace Engine.Cli;

/// <summary>
/// A model named on the command line: a Hugging Face GPT-2 folder (config.json + model.safetensors, optionally
/// vocab.json + merges.txt, else GPT-2's packaged vocabulary when the model has its 50,257 tokens) or a checkpoint file written by <c>engine train</c>.
/// </summary>
sealed record ModelSource(Gpt Model, TextCodec? Tokenizer)
{
    /// <summary>Loads the model in evaluation mode; a folder's tokenizer is null when it ships none.</summary>
    public static ModelSource Load(string path)
    {
        if (Directory.Exists(path))
        {
            var model = Gpt2Checkpoint.Load(path);
            return new ModelSource(model, TextCodec.ForFolder(path, model.Config.VocabSize));
        }
        if (File.Exists(path))
        {
            var (model, tokenizer, _) = NamesModelFile.Load(path);
            model.Eval();
            return new ModelSource(model, new TextCodec.Characters(tokenizer));
        }
        throw new FileNotFoundException($"no model folder or checkpoint file at '{path}'", path);
    }
}
