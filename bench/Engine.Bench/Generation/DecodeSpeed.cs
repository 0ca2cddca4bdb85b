using System.Diagnostics;
using Engine.Bench.Pretrained;
using Engine.Nn;

namespace Engine.Bench.Generation;

/// <summary>
/// Greedy decoding at batch 1 with the KV cache on the tiny GPT of <c>training</c> (V=256, d=128, 4 layers, 4 heads,
/// context 128): <see cref="Sampling.Generate(Gpt, Tensor, int, SamplingOptions, Generator?, int?, KvCache?)"/> (the
/// dedicated decoder where it applies) against the general path (Forward with a cache, one tensor op at a time).
/// <c>--profile</c> prints where the general path's time goes, op by op.
/// </summary>
static class DecodeSpeed
{
    const int Vocab = 256, Context = 128, Width = 128, Layers = 4, Heads = 4;
    static int Tokens = Context - 1;

    public static int Run(string[] args)
    {
        bool quick = args.Contains("--quick");
        int reps = quick ? 2 : 10;
        int at = Array.IndexOf(args, "--tokens");
        if (at >= 0) Tokens = int.Parse(args[at + 1], System.Globalization.CultureInfo.InvariantCulture);
        Console.WriteLine(MachineInfo.Header());
        Console.WriteLine($"tiny GPT: V={Vocab}, d={Width}, {Layers} layers, {Heads} heads, context {Context}; greedy, batch 1, {Tokens} new tokens per run");
        var model = new Gpt(new GptConfig(Vocab, Context, Width, Layers, Heads), new Generator(0));
        model.Eval();
        var prompt = Tensor.Zeros([1, 1], DType.Int64);
        var options = new SamplingOptions(Greedy: true);

        if (args.Contains("--profile"))
            Console.WriteLine("general path, one run:\n" + OpProfile.Measure(() => GeneralPath(model, prompt, Tokens)));

        // The decoder must give the general path's tokens, or its speed means nothing.
        var expected = GeneralPath(model, prompt, Tokens);
        var actual = Sampling.Generate(model, prompt, Tokens, options).ToArray<long>();
        if (!expected.SequenceEqual(actual)) throw new InvalidOperationException("decode: Sampling.Generate's tokens differ from the general path's");

        double general = TokensPerSecond(() => GeneralPath(model, prompt, Tokens), reps);
        double generate = TokensPerSecond(() => Sampling.Generate(model, prompt, Tokens, options), reps);
        Console.WriteLine();
        Console.WriteLine("| path | tokens/s | µs/token |");
        Console.WriteLine("|---|---:|---:|");
        Console.WriteLine($"| general (Forward with KvCache, tensor ops) | {general:F0} | {1e6 / general:F1} |");
        Console.WriteLine($"| Sampling.Generate | {generate:F0} | {1e6 / generate:F1} |");
        Console.WriteLine($"\nSampling.Generate: {generate / general:F2}x the general path");
        return 0;
    }

    static double TokensPerSecond(Func<object> run, int reps)
    {
        // Until tiered compilation has promoted the decoding code (see Timing).
        var clock = Stopwatch.StartNew();
        do run(); while (clock.Elapsed.TotalSeconds < Engine.Bench.Gemm.Timing.WarmUpSeconds);
        clock.Restart();
        for (int i = 0; i < reps; i++) run();
        return Tokens * reps / clock.Elapsed.TotalSeconds;
    }

    // What Sampling.Generate did before the dedicated decoder: one Forward per token against the cache.
    static long[] GeneralPath(Gpt model, Tensor prompt, int tokens)
    {
        using var _ = Engine.Autograd.Autograd.NoGrad();
        var cache = model.CreateCache();
        var ids = prompt.ToArray<long>().ToList();
        var logits = model.Forward(prompt, cache);
        for (int i = 0; i < tokens; i++)
        {
            var next = logits.Select(1, -1).ArgMax(-1).Reshape(1, 1);
            ids.Add(next.ToArray<long>()[0]);
            if (i < tokens - 1) logits = model.Forward(next, cache);
        }
        return ids.ToArray();
    }
}
