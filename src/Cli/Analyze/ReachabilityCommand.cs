using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Engine.Cli.Plots;
using Engine.Nn;

namespace Engine.Cli;

/// <summary>
/// <c>engine analyze reachability</c>: "What's the Magic Word?" (arXiv 2310.04444; spec seeds-remaining.md §8) on the
/// names GPT. The imposed states x0 are the boundary token followed by name prefixes of 1–4 characters (the way
/// <c>engine sample</c> starts a name), the targets every token of the vocabulary, and a control prompt u goes before
/// the boundary, where the previous names of the training stream sit (the paper's u ⊕ x0 with x0 a whole context).
/// <c>--without-boundary</c> drops the boundary from x0, so u runs into the name; u may then end with the boundary
/// itself, so that framing's reachable set at k + 1 contains the default's at k. Printed: the reachable fraction of the
/// (x0, y*) pairs for |u| ≤ k by exact enumeration, the greedy back-generation and the back-off search (greedy, then
/// GCG), and the same fractions by the target's base rank.
/// </summary>
static class ReachabilityCommand
{
    public static Command Create()
    {
        var checkpoint = new Option<string>("--checkpoint") { Description = "names model written by `engine train`", DefaultValueFactory = _ => TrainCommand.DefaultCheckpoint };
        var data = new Option<string>("--data") { Description = "names the prefixes x0 are cut from: a file (UTF-8, one per line) or an embedded set: female, male, all", DefaultValueFactory = _ => "female" };
        var prefixes = ValidatedOption.Integer("--prefixes", "imposed states x0: prefixes of 1-4 characters of names sampled with --seed", 4, min: 1, max: 10_000);
        var maxK = ValidatedOption.Integer("--max-k", "exact reachable sets by enumerating every prompt with |u| <= K (|V|^K prompts per state)", 3, min: 0, max: 3);
        var gcgLengths = new Option<int[]>("--gcg-lengths") { Description = "GCG prompt lengths of the back-off search after greedy lengths 1-3 (the paper's: 4 6 8 10; none: the option with no value)", DefaultValueFactory = _ => [4, 6], Arity = ArgumentArity.ZeroOrMore, AllowMultipleArgumentsPerToken = true };
        var iterations = ValidatedOption.Integer("--gcg-iterations", "GCG iterations per length (the paper's 34; fewer by default to finish in minutes on 2 cores)", 10, min: 1);
        var topK = ValidatedOption.Integer("--gcg-top-k", "GCG candidates per position (the paper's 128, capped by the control tokens)", 128, min: 1);
        var swaps = ValidatedOption.Integer("--gcg-swaps", "GCG single-token swaps per iteration (the paper's 768; fewer by default; capped by length x top-k)", 64, min: 1);
        var excludeBoundary = new Option<bool>("--exclude-boundary") { Description = "no control prompt may hold the boundary (end-of-name) token" };
        var withoutBoundary = new Option<bool>("--without-boundary") { Description = "x0 is the name prefix alone, so the control prompt runs straight into the name (by default x0 starts with the boundary token, as a sampled name does)" };
        var seed = new Option<ulong>("--seed") { Description = "seed of the sampled names and of GCG's random prompts and swaps", DefaultValueFactory = _ => 1 };
        var plot = ValidatedOption.OptionalOutputFile("--plot", "write an SVG of the reachable fraction against k to this file");
        var command = new Command("reachability", "\"What's the Magic Word?\": which next tokens a control prompt of k tokens can force on the names GPT (exact for small k, greedy and GCG lower bounds)");
        foreach (var o in new Option[] { checkpoint, data, prefixes, maxK, gcgLengths, iterations, topK, swaps, excludeBoundary, withoutBoundary, seed, plot }) command.Options.Add(o);
        command.SetAction(r => Run(new Settings(r.GetValue(checkpoint)!, r.GetValue(data)!, r.GetValue(prefixes), r.GetValue(maxK),
            // The option given with no value means no GCG at all (its default is used only when it is absent).
            r.GetResult(gcgLengths) is { Implicit: false, Tokens.Count: 0 } ? [] : r.GetValue(gcgLengths) ?? [],
            new GcgOptions(r.GetValue(iterations), r.GetValue(topK), r.GetValue(swaps)), r.GetValue(excludeBoundary), !r.GetValue(withoutBoundary), r.GetValue(seed), r.GetValue(plot))));
        return command;
    }

    sealed record Settings(string Checkpoint, string Data, int Prefixes, int MaxK, int[] GcgLengths, GcgOptions Gcg, bool ExcludeBoundary, bool Boundary, ulong Seed, string? Plot);

    /// <summary>Base-rank buckets of the second table: [low, high] inclusive.</summary>
    static readonly (int Low, int High)[] RankBuckets = [(0, 0), (1, 2), (3, 7), (8, 15), (16, int.MaxValue)];

    static int Run(Settings s)
    {
        for (int i = 0; i < s.GcgLengths.Length; i++)
            if (s.GcgLengths[i] < 1 || (i > 0 && s.GcgLengths[i] <= s.GcgLengths[i - 1]))
                throw new ArgumentException($"--gcg-lengths {string.Join(" ", s.GcgLengths)}: give positive lengths in ascending order");
        var (model, tokenizer, _) = NamesModelFile.Load(s.Checkpoint);
        model.Eval();
        var states = States(EmbeddedData.Load(s.Data), tokenizer, s.Prefixes, s.Seed, s.Boundary);
        int longest = states.Max(x => x.Length), room = model.Config.ContextLength - longest;
        int needed = Math.Max(s.MaxK, Math.Max(GreedyPromptSearch.DefaultMaxLength, s.GcgLengths.DefaultIfEmpty(0).Max()));
        if (needed > room)
            throw new ArgumentException($"--gcg-lengths/--max-k: a control prompt of {needed} tokens before a {longest}-token state exceeds the model's context of {model.Config.ContextLength}; at most {room} control tokens fit");
        int[] blacklist = s.ExcludeBoundary ? [CharTokenizer.Boundary] : [];
        int allowed = tokenizer.VocabSize - blacklist.Length;
        Console.WriteLine($"model: '{s.Checkpoint}', GPT d={model.Config.DModel}, {model.Config.Layers} layers, context {model.Config.ContextLength}, vocabulary {tokenizer.VocabSize}");
        Console.WriteLine($"imposed states x0 (^ = boundary): {string.Join(" ", states.Select(x => Show(tokenizer, x)))}");
        Console.WriteLine(FormattableString.Invariant($"targets: all {tokenizer.VocabSize} tokens; control tokens: {allowed}{(s.ExcludeBoundary ? " (boundary excluded)" : "")}; exact |u| <= {s.MaxK}; greedy |u| = 1..{GreedyPromptSearch.DefaultMaxLength}; GCG |u| in [{(s.GcgLengths.Length == 0 ? "none" : string.Join(", ", s.GcgLengths))}], {s.Gcg.Iterations} iterations, top-k {Math.Min(s.Gcg.TopK, allowed)}, up to {s.Gcg.Swaps} swaps (capped at |u| x top-k)"));
        var clock = Stopwatch.StartNew();
        var records = ReachabilitySurvey.Run(model, states, s.MaxK, new Generator(s.Seed + 1), GreedyPromptSearch.DefaultMaxLength, s.GcgLengths, s.Gcg, blacklist,
            (done, all) => Console.Error.Write($"\rstate {done}/{all} ({clock.Elapsed.TotalSeconds:F0} s)" + (done == all ? Environment.NewLine : "")));
        Console.WriteLine(FractionTable(records, s.MaxK, s.GcgLengths));
        Console.WriteLine();
        Console.WriteLine(RankTable(records, s.MaxK, s.GcgLengths));
        Console.WriteLine(FormattableString.Invariant($"{records.Count} (x0, y*) pairs in {clock.Elapsed.TotalSeconds:F1} s"));
        if (s.Plot is { } path)
        {
            ReachabilityPlot.Write(Curves(records, s.MaxK, s.GcgLengths), $"engine analyze reachability: {states.Count} name prefixes, vocabulary {tokenizer.VocabSize}", path);
            Console.WriteLine($"plot: {path}");
        }
        return 0;
    }

    /// <summary>
    /// <paramref name="count"/> distinct states: the boundary (unless <paramref name="boundary"/> is false) then the first
    /// 1, 2, 3, 4, 1, ... characters of names drawn with <paramref name="seed"/> (fewer when the names do not give that many).
    /// </summary>
    internal static List<int[]> States(IReadOnlyList<string> names, CharTokenizer tokenizer, int count, ulong seed, bool boundary)
    {
        if (names.Count == 0) throw new ArgumentException("--data holds no names to cut prefixes from");
        var draws = Tensor.Randint(0, names.Count, [Math.Min(count * 4, 1_000_000)], generator: new Generator(seed)).ToArray<long>();
        var states = new List<int[]>();
        var seen = new HashSet<string>();
        foreach (long d in draws)
        {
            if (states.Count == count) break;
            var name = names[(int)d];
            var prefix = name[..Math.Min(name.Length, 1 + states.Count % 4)];
            int[] ids;
            try { ids = boundary ? [CharTokenizer.Boundary, .. tokenizer.Encode(prefix)] : tokenizer.Encode(prefix); }
            catch (ArgumentException e) { throw new ArgumentException($"--data: name '{name}': {e.Message}; the checkpoint's vocabulary lacks it", e); }
            if (seen.Add(prefix)) states.Add(ids);
        }
        return states;
    }

    static string Show(CharTokenizer tokenizer, int[] ids) => string.Concat(ids.Select(i => i == CharTokenizer.Boundary ? "^" : tokenizer.Characters[i].ToString()));

    static int Rows(int maxK, int[] gcgLengths) => Math.Max(maxK, Math.Max(GreedyPromptSearch.DefaultMaxLength, gcgLengths.DefaultIfEmpty(0).Max()));

    // The lengths some column measures: 0..max(--max-k, 3), then the GCG lengths.
    static IEnumerable<int> Ks(int maxK, int[] gcgLengths) =>
        Enumerable.Range(0, Math.Max(maxK, GreedyPromptSearch.DefaultMaxLength) + 1).Concat(gcgLengths).Distinct().Order();

    /// <summary>Per k: the exact fraction (k ≤ --max-k), the greedy one (k ≤ 3) and the back-off one (greedy, then GCG at its lengths).</summary>
    static string FractionTable(IReadOnlyList<ReachabilityRecord> records, int maxK, int[] gcgLengths)
    {
        var lines = new List<string> { "| k | exact | greedy | back-off (greedy + GCG) |", "|---:|---:|---:|---:|" };
        foreach (int k in Ks(maxK, gcgLengths))
        {
            string exact = k <= maxK ? Percent(ReachabilitySurvey.FractionWithin(records, r => r.ExactLength, k)) : "-";
            string greedy = k <= GreedyPromptSearch.DefaultMaxLength ? Percent(ReachabilitySurvey.FractionWithin(records, r => r.GreedyLength, k)) : "-";
            bool backoffLength = k <= GreedyPromptSearch.DefaultMaxLength || gcgLengths.Contains(k);
            string backoff = backoffLength ? Percent(ReachabilitySurvey.FractionWithin(records, r => r.BackoffLength, k)) : "-";
            lines.Add($"| {k} | {exact} | {greedy} | {backoff} |");
        }
        return string.Join(Environment.NewLine, lines);
    }

    /// <summary>By the target's base rank under x0 alone: pairs, exact at --max-k, greedy at 3, back-off at its longest length.</summary>
    static string RankTable(IReadOnlyList<ReachabilityRecord> records, int maxK, int[] gcgLengths)
    {
        int longest = Rows(maxK, gcgLengths);
        var lines = new List<string>
        {
            $"| base rank of y* | pairs | exact k <= {maxK} | greedy k <= {GreedyPromptSearch.DefaultMaxLength} | back-off k <= {longest} |",
            "|---|---:|---:|---:|---:|",
        };
        foreach (var (low, high) in RankBuckets)
        {
            var bucket = records.Where(r => r.BaseRank >= low && r.BaseRank <= high).ToList();
            if (bucket.Count == 0) continue;
            string name = low == high ? $"{low}" : high == int.MaxValue ? $"{low}+" : $"{low}-{high}";
            lines.Add($"| {name} | {bucket.Count} | {Percent(ReachabilitySurvey.FractionWithin(bucket, r => r.ExactLength, maxK))} | " +
                $"{Percent(ReachabilitySurvey.FractionWithin(bucket, r => r.GreedyLength, GreedyPromptSearch.DefaultMaxLength))} | {Percent(ReachabilitySurvey.FractionWithin(bucket, r => r.BackoffLength, longest))} |");
        }
        return string.Join(Environment.NewLine, lines);
    }

    static IReadOnlyList<ReachabilityPlot.Curve> Curves(IReadOnlyList<ReachabilityRecord> records, int maxK, int[] gcgLengths)
    {
        var backoffKs = Enumerable.Range(0, GreedyPromptSearch.DefaultMaxLength + 1).Concat(gcgLengths).ToList();
        return
        [
            new("exact", Enumerable.Range(0, maxK + 1).Select(k => (k, ReachabilitySurvey.FractionWithin(records, r => r.ExactLength, k))).ToList()),
            new("greedy", Enumerable.Range(0, GreedyPromptSearch.DefaultMaxLength + 1).Select(k => (k, ReachabilitySurvey.FractionWithin(records, r => r.GreedyLength, k))).ToList()),
            new("back-off (greedy + GCG)", backoffKs.Select(k => (k, ReachabilitySurvey.FractionWithin(records, r => r.BackoffLength, k))).ToList()),
        ];
    }

    static string Percent(double fraction) => (100 * fraction).ToString("F1", CultureInfo.InvariantCulture) + " %";
}
