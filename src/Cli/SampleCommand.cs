using System.CommandLine;
using Engine.Nn;
using Engine.Nn.Checkpoints;

namespace Engine.Cli;

/// <summary><c>engine sample</c>: names from a checkpoint written by <c>engine train</c>.</summary>
static class SampleCommand
{
    public static Command Create()
    {
        var checkpoint = new Option<string>("--checkpoint") { Description = "checkpoint written by `engine train`", DefaultValueFactory = _ => TrainCommand.DefaultCheckpoint };
        var count = new Option<int>("--count") { Description = "how many names", DefaultValueFactory = _ => 10 };
        var temperature = new Option<double>("--temperature") { Description = "softmax temperature (0: greedy)", DefaultValueFactory = _ => 0.8 };
        var topK = new Option<int>("--top-k") { Description = "sample among the k most likely characters (0: all)", DefaultValueFactory = _ => 0 };
        var topP = new Option<double>("--top-p") { Description = "sample within the nucleus of this probability mass", DefaultValueFactory = _ => 1.0 };
        var prefix = new Option<string>("--prefix") { Description = "start every name with these characters", DefaultValueFactory = _ => "" };
        var seed = new Option<ulong>("--seed") { Description = "sampling seed", DefaultValueFactory = _ => 0 };
        var command = new Command("sample", "sample names from a checkpoint of `engine train`");
        foreach (var o in new Option[] { checkpoint, count, temperature, topK, topP, prefix, seed }) command.Options.Add(o);
        command.SetAction(r =>
        {
            try
            {
                var (model, tokenizer, _) = NamesModelFile.Load(r.GetValue(checkpoint)!);
                var options = new SamplingOptions(r.GetValue(temperature), r.GetValue(topK), r.GetValue(topP));
                foreach (var name in Sample(model, tokenizer, r.GetValue(count), options, r.GetValue(prefix)!, new Generator(r.GetValue(seed))))
                    Console.WriteLine(name);
                return 0;
            }
            catch (Exception e) when (e is FileNotFoundException or InvalidDataException or IOException or ArgumentException)
            {
                Console.Error.WriteLine($"engine sample: {e.Message}");
                return 2;
            }
        });
        return command;
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
