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
        var command = new Command("sample", "sample names from a checkpoint of `engine train`");
        foreach (var o in new Option[] { checkpoint, count }.Concat(sampling.All).Concat([prefix, seed])) command.Options.Add(o);
        command.SetAction(r => Run(r.GetValue(checkpoint)!, r.GetValue(count), sampling.Read(r), r.GetValue(prefix)!, r.GetValue(seed)));
        return command;
    }

    static int Run(string checkpoint, int count, SamplingOptions options, string prefix, ulong seed)
    {
        // All names are sampled as one batch: its size is checked before the model is loaded.
        var config = NamesModelFile.ReadConfig(checkpoint);
        MemoryEstimate.Require(MemoryEstimate.Gpt(config, count, config.ContextLength, training: false), $"--count {count}", "sample fewer names per run");
        var (model, tokenizer, _) = NamesModelFile.Load(checkpoint);
        try { tokenizer.Encode(prefix); }
        catch (ArgumentException e) { throw new ArgumentException($"--prefix: {e.Message} of '{checkpoint}'", e); }
        foreach (var name in Sample(model, tokenizer, count, options, prefix, new Generator(seed)))
            Console.WriteLine(name);
        return 0;
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
