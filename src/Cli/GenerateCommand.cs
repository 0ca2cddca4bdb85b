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
        var maxNew = ValidatedOption.Integer("--max-new-tokens", "tokens to generate (fewer when the context length is reached)", 50, min: 0);
        var sampling = new SamplingOptionSet("tokens");
        var greedy = new Option<bool>("--greedy") { Description = "always take the most likely token (ignores temperature, top-k, top-p)" };
        var seed = new Option<ulong>("--seed") { Description = "sampling seed", DefaultValueFactory = _ => 0 };
        var adapters = AdapterOption.Create();
        var command = new Command("generate", "continue a prompt with a GPT-2 model (KV cache) and print the text, or the ids when the model has no tokenizer");
        foreach (var o in new Option[] { model, prompt, ids, maxNew }.Concat(sampling.All).Concat([greedy, seed, adapters])) command.Options.Add(o);
        command.SetAction(r => Run(r.GetValue(model)!, r.GetValue(prompt), r.GetValue(ids), r.GetValue(maxNew),
            sampling.Read(r, r.GetValue(greedy)), r.GetValue(seed), r.GetValue(adapters)));
        return command;
    }

    static int Run(string modelPath, string? prompt, string? idsText, int maxNewTokens, SamplingOptions options, ulong seed, string[]? adapterFolders)
    {
        if ((prompt is null) == (idsText is null)) throw new ArgumentException("give the prompt either as --prompt <text> or as --ids 1,2,3 (exactly one of them)");

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
        // aLoRA adapters find their invocation in the prompt; the decode steps keep its offsets (PEFT's generate).
        Tensor tokens;
        using (peft?.TokenScope(prompt2d)) tokens = Sampling.Generate(source.Model, prompt2d, maxNewTokens, options, new Generator(seed), cache: cache);
        var all = tokens.ToArray<long>().Select(t => (int)t).ToArray();
        Console.WriteLine(codec is null ? string.Join(",", all) : codec.Decode(all));
        return 0;
    }
}
