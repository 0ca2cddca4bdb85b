using System.CommandLine;
using Engine.Nn;

namespace Engine.Cli;

/// <summary><c>engine generate</c>: continues a prompt with a GPT-2 model, using the KV cache.</summary>
static class GenerateCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "Hugging Face GPT-2 folder (config.json + model.safetensors, optionally vocab.json + merges.txt) or a checkpoint of `engine train`", Required = true };
        var prompt = new Option<string?>("--prompt") { Description = "text to continue: GPT-2 BPE when the folder has vocab.json + merges.txt, else one token per UTF-8 byte (needs a vocabulary of at least 256)" };
        var ids = new Option<string?>("--ids") { Description = "token ids to continue instead of --prompt, comma-separated: --ids 1,2,3" };
        var maxNew = new Option<int>("--max-new-tokens") { Description = "tokens to generate (fewer when the context length is reached)", DefaultValueFactory = _ => 50 };
        var temperature = new Option<double>("--temperature") { Description = "softmax temperature (0: greedy)", DefaultValueFactory = _ => 0.8 };
        var topK = new Option<int>("--top-k") { Description = "sample among the k most likely tokens (0: all)", DefaultValueFactory = _ => 0 };
        var topP = new Option<double>("--top-p") { Description = "sample within the nucleus of this probability mass (1: all)", DefaultValueFactory = _ => 1.0 };
        var greedy = new Option<bool>("--greedy") { Description = "always take the most likely token (ignores temperature, top-k, top-p)" };
        var seed = new Option<ulong>("--seed") { Description = "sampling seed", DefaultValueFactory = _ => 0 };
        var adapters = AdapterOption.Create();
        var command = new Command("generate", "continue a prompt with a GPT-2 model (KV cache) and print the text, or the ids when the model has no tokenizer");
        foreach (var o in new Option[] { model, prompt, ids, maxNew, temperature, topK, topP, greedy, seed, adapters }) command.Options.Add(o);
        command.SetAction(r => CommandErrors.Run("generate", () => Run(r.GetValue(model)!, r.GetValue(prompt), r.GetValue(ids), r.GetValue(maxNew),
            new SamplingOptions(r.GetValue(temperature), r.GetValue(topK), r.GetValue(topP), r.GetValue(greedy)), r.GetValue(seed), r.GetValue(adapters))));
        return command;
    }

    static int Run(string modelPath, string? prompt, string? idsText, int maxNewTokens, SamplingOptions options, ulong seed, string[]? adapterFolders)
    {
        if ((prompt is null) == (idsText is null)) throw new ArgumentException("give the prompt either as --prompt <text> or as --ids 1,2,3 (exactly one of them)");
        if (maxNewTokens < 0) throw new ArgumentException($"--max-new-tokens must be 0 or more, got {maxNewTokens}");
        if (options.TopK < 0 || options.TopP is <= 0 or > 1) throw new ArgumentException($"--top-k must be 0 or more and --top-p in (0, 1]; got {options.TopK} and {options.TopP}");

        var source = ModelSource.Load(modelPath);
        var peft = AdapterOption.Apply(source.Model, adapterFolders);
        var config = source.Model.Config;
        var codec = source.Tokenizer ?? (config.VocabSize >= 256 ? new TextCodec.Bytes() : null);
        int[] promptIds;
        if (idsText is not null) promptIds = TokenIds.Parse(idsText, config.VocabSize);
        else
        {
            if (codec is null)
                throw new ArgumentException($"'{modelPath}' has no tokenizer (vocab.json + merges.txt) and its vocabulary of {config.VocabSize} tokens is too small for one token per byte (256); give token ids with --ids 1,2,3 instead of --prompt");
            promptIds = codec.Encode(prompt!);
            if (promptIds.Length == 0) throw new ArgumentException("--prompt: the prompt is empty; give at least one token");
            foreach (int id in promptIds) TokenIds.Check(id, config.VocabSize, $"--prompt ({codec.Description})");
        }
        if (promptIds.Length > config.ContextLength)
            throw new ArgumentException($"the prompt has {promptIds.Length} tokens, more than the model's context length {config.ContextLength}");

        var prompt2d = Tensor.FromArray(promptIds.Select(i => (long)i).ToArray(), [1, promptIds.Length]);
        KvCache? cache;
        using (Autograd.Autograd.NoGrad()) cache = AdapterOption.StartCache(peft, 1);
        var tokens = Sampling.Generate(source.Model, prompt2d, maxNewTokens, options, new Generator(seed), cache: cache);
        var all = tokens.ToArray<long>().Select(t => (int)t).ToArray();
        Console.WriteLine(codec is null ? string.Join(",", all) : codec.Decode(all));
        return 0;
    }
}
