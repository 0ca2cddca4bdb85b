using System.CommandLine;
using Engine.Nn;
using Engine.Nn.Checkpoints;

namespace Engine.Cli;

/// <summary><c>engine sample</c>: names from a checkpoint written by <c>engine train</c>.</summary>
static class SampleCommand
{
    public static Command Create()
    {
        var checkpoint = new Option<string>("--checkpoint") { Description = "checkpoint file written by `engine train`", DefaultValueFactory = _ => TrainCommand.DefaultCheckpoint };
        var count = ValidatedOption.Integer("--count", "how many names", 10, min: 1);
        var sampling = new SamplingOptionSet("characters");
        var prefix = new Option<string>("--prefix") { Description = "start every name with these characters", DefaultValueFactory = _ => "" };
        var seed = new Option<ulong>("--seed") { Description = "sampling seed", DefaultValueFactory = _ => 0 };
        var budget = new Option<string?>("--memory-budget") { Description = "for a BitStack file of `engine compress --bitstack`: load the largest configuration of at most this size (2MB, 500KB; 1 KB = 1024 bytes); all blocks when absent" };
        var command = new Command("sample", "sample names from a checkpoint of `engine train` (or `engine compress`)");
        foreach (var o in new Option[] { checkpoint, count }.Concat(sampling.All).Concat([prefix, seed, budget])) command.Options.Add(o);
        command.SetAction(r => Run(r.GetValue(checkpoint)!, r.GetValue(count), sampling.Read(r), r.GetValue(prefix)!, r.GetValue(seed), r.GetValue(budget)));
        return command;
    }

    static int Run(string checkpoint, int count, SamplingOptions options, string prefix, ulong seed, string? budget)
    {
        long? budgetBytes = budget is null ? null : MemorySize.Parse(budget, "--memory-budget");
        var (model, tokenizer) = Load(checkpoint, count, budget, budgetBytes);
        try { tokenizer.Encode(prefix); }
        catch (ArgumentException e) { throw new ArgumentException($"--prefix: {e.Message} of '{checkpoint}'", e); }
        foreach (var name in Sample(model, tokenizer, count, options, prefix, new Generator(seed)))
            Console.WriteLine(name);
        return 0;
    }

    // A BitStack file is recognised by its metadata; a budget for any other checkpoint is a mistake, said as such.
    static (Gpt Model, CharTokenizer Tokenizer) Load(string checkpoint, int count, string? budget, long? budgetBytes)
    {
        if (File.Exists(checkpoint) && Engine.Nn.Compression.BitStackFile.IsBitStack(checkpoint))
        {
            var (bitstack, vocabulary, loaded) = NamesBitStack.Load(checkpoint, budgetBytes, budget ?? "");
            MemoryEstimate.Require(MemoryEstimate.Gpt(bitstack.Config, count, bitstack.Config.ContextLength, training: false), $"--count {count}", "sample fewer names per run");
            int blocks = loaded.Counts.Values.Sum();
            Console.Error.WriteLine($"BitStack: {MemorySize.Kb(loaded.Bytes)} KB, {blocks} blocks over {loaded.Counts.Count} weights");
            return (bitstack, vocabulary);
        }
        if (budget is not null)
            throw new ArgumentException($"--memory-budget applies to BitStack files of `engine compress --bitstack`; '{checkpoint}' is not one");
        // All names are sampled as one batch: its size is checked before the model is loaded.
        var config = NamesModelFile.ReadConfig(checkpoint);
        MemoryEstimate.Require(MemoryEstimate.Gpt(config, count, config.ContextLength, training: false), $"--count {count}", "sample fewer names per run");
        var (model, tokenizer, _) = NamesModelFile.Load(checkpoint);
        return (model, tokenizer);
    }

    /// <summary>Names generated after the boundary token (and an optional prefix), cut at the next boundary.</summary>
    public static IEnumerable<string> Sample(Gpt model, CharTokenizer tokenizer, int count, SamplingOptions options, string prefix, Generator generator)
    {
        var start = new[] { CharTokenizer.Boundary }.Concat(tokenizer.Encode(prefix)).Select(i => (long)i).ToArray();
        var prompt = Tensor.FromArray(Enumerable.Range(0, count).SelectMany(_ => start).ToArray(), [count, start.Length]);
        int room = model.Config.ContextLength - start.Length;
        var tokens = Sampling.Generate(model, prompt, Math.Max(room, 0), options, generator, stopToken: CharTokenizer.Boundary);
        var rows = tokens.ToArray<long>();
        int cols = tokens.Size(1);
        for (int i = 0; i < count; i++)
            yield return prefix + tokenizer.Decode(rows.Skip(i * cols + start.Length).Take(cols - start.Length).TakeWhile(t => t != CharTokenizer.Boundary).Select(t => (int)t));
    }
}
