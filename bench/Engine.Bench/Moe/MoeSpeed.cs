using System.Globalization;
using Engine.Autograd;
using Engine.Bench.Gemm;
using Engine.Nn;

namespace Engine.Bench.Moe;

/// <summary>
/// The mixture-of-experts figure of issue 19: forward and forward+backward of <see cref="MoeFeedForward"/> (E = 4,
/// top-1 and top-2, d = 128 and 256, experts 4d wide, 32 x 32 tokens) against a dense <see cref="Mlp"/> with the same
/// active parameters (hidden width k · 4d), timed in alternating rounds, so the ratio is the price of routing, gathering and scattering (target:
/// at most 1.5x). The MoE time includes the router, the host-side top-k and the balance and z-losses.
/// </summary>
static class MoeSpeed
{
    const int Batch = 32, Time = 32, Experts = 4;

    public static int Run(string[] args)
    {
        bool quick = args.Contains("--quick");
        // --threads N caps the kernels' threads for dense and MoE alike: on a machine shared with other work, one
        // thread compares the arithmetic without the waits at each parallel kernel's join, which the MoE pays 2E times
        // as often (E small experts instead of one wide layer).
        int at = Array.IndexOf(args, "--threads");
        if (at >= 0 && at + 1 < args.Length) Engine.Backends.Cpu.CpuThreading.MaxThreads = int.Parse(args[at + 1], CultureInfo.InvariantCulture);
        if (quick) Timing.WarmUpSeconds = 0.05;
        int rounds = quick ? 3 : 9;
        double minSeconds = quick ? 0.05 : 0.3;
        Console.WriteLine(MachineInfo.Header() + $"; kernel threads {Engine.Backends.Cpu.CpuThreading.MaxThreads}");
        Console.WriteLine($"MoE: E={Experts}, tokens {Batch}x{Time}, experts 4d wide; dense Mlp of hidden k*4d (same active parameters)");
        Console.WriteLine();
        Console.WriteLine("| d | k | dense fwd | MoE fwd | ratio fwd | dense fwd+bwd | MoE fwd+bwd | ratio fwd+bwd | max load / uniform |");
        Console.WriteLine("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        double worst = 0;
        foreach (int d in new[] { 128, 256 })
            foreach (int k in new[] { 1, 2 })
            {
                var gen = new Generator(1);
                var moe = new MoeFeedForward(d, 4 * d, new MoeOptions(Experts, TopK: k), generator: gen);
                var dense = new Mlp(d, k * 4 * d, new GELU(true), generator: gen);
                var x = Tensor.Randn([Batch, Time, d], generator: gen);
                Action denseForward = () => { using (Engine.Autograd.Autograd.NoGrad()) dense.Forward(x); };
                Action moeForward = () => { using (Engine.Autograd.Autograd.NoGrad()) moe.Forward(x); };
                Action denseTrain = () =>
                {
                    dense.ZeroGrad();
                    dense.Forward(x).Square().Mean().Backward();
                };
                Action moeTrain = () =>
                {
                    moe.ZeroGrad();
                    using var aux = AuxiliaryLosses.Collect();
                    (moe.Forward(x).Square().Mean() + aux.Total()).Backward();
                };
                var (denseF, moeF, ratioF) = Paired(denseForward, moeForward, rounds, minSeconds);
                var (denseB, moeB, ratioB) = Paired(denseTrain, moeTrain, rounds, minSeconds);
                worst = Math.Max(worst, ratioB);
                Console.WriteLine($"| {d} | {k} | {Ms(denseF)} | {Ms(moeF)} | {ratioF:F2}x | {Ms(denseB)} | {Ms(moeB)} | {ratioB:F2}x | {moe.LastDecision!.MaxLoadOverUniform:F2} |");
            }
        if (args.Contains("--profile")) Profile(rounds, minSeconds);
        Console.WriteLine();
        Console.WriteLine($"worst MoE / dense forward+backward: {worst:F2}x (target <= 1.5x)");
        return 0;
    }

    // Forward stages of the layer rebuilt from the same public ops, each timed alone (d = 128, top-2, no grad).
    static void Profile(int rounds, double minSeconds)
    {
        const int d = 128, k = 2;
        var gen = new Generator(1);
        var moe = new MoeFeedForward(d, 4 * d, new MoeOptions(Experts, TopK: k), generator: gen);
        var dense = new Mlp(d, k * 4 * d, new GELU(true), generator: gen);
        var flat = Tensor.Randn([Batch * Time, d], generator: gen);
        moe.Forward(flat);
        Console.WriteLine();
        Console.WriteLine($"forward+backward, d = {d}, top-{k}:");
        Action train(Func<Tensor> f, Module m) => () => { m.ZeroGrad(); f().Square().Mean().Backward(); };
        var trainStages = new (string Name, Action Run)[]
        {
            ("whole layer", train(() => moe.Forward(flat), moe)),
            ("dense mlp", train(() => dense.Forward(flat), dense)),
            ("experts on pre-gathered rows", train(() =>
            {
                var rows = moe.LastDecision!.Processed;
                var all = Tensor.Randn([rows.Sum(), d]);
                int at = 0;
                var outs = new List<Tensor>();
                for (int e = 0; e < Experts; e++) { outs.Add(moe.Experts[e].Forward(all.Narrow(0, at, rows[e]))); at += rows[e]; }
                return Tensor.Concat([.. outs], 0);
            }, moe)),
        };
        foreach (var (name, run) in trainStages) Report(name, run, trainStages[1].Run, rounds, minSeconds);
        // The GEMM shape cost alone: the same rows through one d x 4d Linear at once, or in E equal parts.
        var fc = new Linear(d, 4 * d, true, gen);
        var rowsAll = Tensor.Randn([Batch * Time, d], generator: gen);
        using (Engine.Autograd.Autograd.NoGrad())
        {
            int part = Batch * Time / Experts;
            var (whole, split, gemmRatio) = Paired(() => fc.Forward(rowsAll), () => { for (int e = 0; e < Experts; e++) fc.Forward(rowsAll.Narrow(0, e * part, part)); }, rounds, minSeconds);
            Console.WriteLine($"Linear {d}->{4 * d} on {Batch * Time} rows: {Ms(whole)} at once, {Ms(split)} in {Experts} parts ({gemmRatio:F2}x)");
        }
        Console.WriteLine($"forward only, d = {d}, top-{k}:");
        using var noGrad = Engine.Autograd.Autograd.NoGrad();
        var decision = moe.LastDecision!;
        var rows = Enumerable.Range(0, Experts).SelectMany(e => Enumerable.Range(0, decision.Choices.Length).Where(i => decision.Choices[i] == e).Select(i => (long)(i / k))).ToArray();
        var index = Tensor.FromArray(rows);
        var gathered = flat.IndexSelect(0, index);
        var counts = decision.Processed;
        var parts = new Tensor[Experts];
        var weightColumn = Tensor.Rand([rows.Length, 1], generator: gen);
        var stages = new (string Name, Action Run)[]
        {
            ("whole layer", () => moe.Forward(flat)),
            ("dense mlp", () => dense.Forward(flat)),
            ("router + softmax + host copy", () => moe.Router.Forward(flat).Softmax(-1).ToDoubleArray()),
            ("route (host)", () => RouterDecision.Route(decision.Probabilities, decision.Tokens, Experts, k, null)),
            ("gather", () => flat.IndexSelect(0, index)),
            ("copy of the gathered size", () => gathered.Clone()),
            ("experts", () => { int at = 0; for (int e = 0; e < Experts; e++) { parts[e] = moe.Experts[e].Forward(gathered.Narrow(0, at, counts[e])); at += counts[e]; } }),
            ("concat", () => Tensor.Concat(parts, 0)),
            ("weight multiply (broadcast)", () => { _ = gathered * weightColumn; }),
            ("zeros + index-add", () => Tensor.Zeros([Batch * Time, d]).IndexAdd(0, index, gathered)),
            ("index-add", () => Tensor.Zeros([Batch * Time, d]).IndexAdd(0, index, gathered)),
        };
        Console.WriteLine();
        foreach (var (name, run) in stages) Report(name, run, stages[1].Run, rounds, minSeconds);
    }

    // A stage's time and its median ratio to the dense layer's, timed in alternating rounds.
    static void Report(string name, Action stage, Action dense, int rounds, double minSeconds)
    {
        var (_, seconds, ratio) = Paired(dense, stage, rounds, minSeconds);
        Console.WriteLine($"{name,-30} {Ms(seconds),10}  {ratio,5:F2}x dense");
    }

    // The machine is shared, so its speed drifts: dense and MoE alternate round by round, and the ratio is the median
    // of the per-round ratios (each round times both within a fraction of a second), the times the medians of each.
    static (double Dense, double Moe, double Ratio) Paired(Action dense, Action moe, int rounds, double minSeconds)
    {
        Timing.MedianSeconds(dense, 1, minSeconds);
        Timing.MedianSeconds(moe, 1, minSeconds);
        var d = new double[rounds];
        var m = new double[rounds];
        var r = new double[rounds];
        for (int i = 0; i < rounds; i++)
        {
            d[i] = Once(dense, minSeconds);
            m[i] = Once(moe, minSeconds);
            r[i] = m[i] / d[i];
        }
        return (Median(d), Median(m), Median(r));
    }

    static double Once(Action run, double minSeconds)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        int calls = 0;
        do { run(); calls++; } while (clock.Elapsed.TotalSeconds < minSeconds);
        return clock.Elapsed.TotalSeconds / calls;
    }

    static double Median(double[] values)
    {
        var sorted = values.Order().ToArray();
        return sorted[sorted.Length / 2];
    }

    static string Ms(double seconds) => (seconds * 1e3).ToString("F2", CultureInfo.InvariantCulture) + " ms";
}
