using System.Diagnostics;
using Engine.Autograd;
using Engine.Nn;
using Engine.Recording;

namespace Engine.Bench.Training;

/// <summary>
/// Where the tiny-GPT training step spends its time (`training --profile`): wall time per phase (forward with the
/// loss, backward, optimiser) over several steps, then one step under an <see cref="OpObserver"/> that charges the
/// time since the previous op to the op that just finished and sorts it into attention (any op touching a
/// [B, H, T, *] tensor: the score and value products, mask, softmax), matrix products (the linear layers and the
/// tied head) and everything else (layer norm, GELU, residual adds, embedding, cross-entropy, gradient sums).
/// </summary>
static class TrainingProfile
{
    /// <summary>
    /// Steps before timing. The array pool (CpuArrayPool) gets arrays back only from the collections that find them
    /// dead, so it takes about twenty steps to hold a step's worth; until then fresh arrays are fresh pages that the
    /// kernel maps and zeroes on first touch (40 MB per step here). A training run spends all but its first seconds
    /// in the steady state, so that is what is timed. Forty, not twenty, since the benchmarks run with tiered
    /// compilation: a method called once per step reaches tier 1 only after its thirtieth call, and with twenty
    /// warm-up steps its compilation fell into the timed steps (7.3 MB of fresh pages per step, 3.0 MB after forty;
    /// the rest comes with tiered compilation, probably because its code allocates less, so that the collections
    /// that return arrays to the pool come less often).
    /// </summary>
    internal const int Warmup = 40;

    enum Phase { Forward, Backward, Optimizer }
    enum Category { Attention, MatMul, Elementwise }

    public static int Run(Gpt model, AdamW optimizer, Tensor x, Tensor y, int steps)
    {
        var phases = new double[3];
        var clock = new Stopwatch();
        long faults = 0;
        for (int i = 0; i < Warmup + steps; i++)
        {
            if (i == Warmup) faults = MinorPageFaults();
            clock.Restart();
            var loss = Losses.CrossEntropy(model.Forward(x), y);
            double forward = clock.Elapsed.TotalMilliseconds;
            optimizer.ZeroGrad();
            loss.Backward();
            double backward = clock.Elapsed.TotalMilliseconds;
            optimizer.Step();
            double total = clock.Elapsed.TotalMilliseconds;
            if (i < Warmup) continue;
            phases[0] += forward;
            phases[1] += backward - forward;
            phases[2] += total - backward;
        }
        faults = MinorPageFaults() - faults;
        double step = phases.Sum() / steps;
        Console.WriteLine($"\nstep {step:F1} ms over {steps} steps: " + string.Join(", ",
            Enum.GetValues<Phase>().Select(p => $"{p} {phases[(int)p] / steps:F1} ms ({100 * phases[(int)p] / phases.Sum():F0}%)")));
        Console.WriteLine($"minor page faults per step: {faults / steps} ({faults / steps * 4096 / 1e6:F1} MB of fresh pages)");

        var observer = new CategoryObserver(x.Size(1));
        var previous = OpObserver.Current;
        OpObserver.Current = observer.Observe;
        try
        {
            observer.Enter(Phase.Forward);
            var loss = Losses.CrossEntropy(model.Forward(x), y);
            observer.Enter(Phase.Backward);
            optimizer.ZeroGrad();
            loss.Backward();
            observer.Enter(Phase.Optimizer);
            optimizer.Step();
            observer.Enter(Phase.Optimizer);
        }
        finally { OpObserver.Current = previous; }
        observer.Print();
        return 0;
    }

    // Field 10 of /proc/self/stat: pages the kernel mapped on first touch (each one zeroed); -1 off Linux.
    static long MinorPageFaults()
    {
        try
        {
            string stat = File.ReadAllText("/proc/self/stat");
            return long.Parse(stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[7], System.Globalization.CultureInfo.InvariantCulture);
        }
        catch (IOException) { return -1; }
    }

    sealed class CategoryObserver(int context)
    {
        readonly double[,] _ms = new double[3, 3];
        readonly Dictionary<string, (double Ms, int Count)> _ops = [];
        readonly Stopwatch _clock = Stopwatch.StartNew();
        TimeSpan _last;
        Phase _phase;

        public void Enter(Phase phase)
        {
            // Time since the last op of the previous phase (its bookkeeping, the optimiser's fused kernel) stays there.
            Charge(Category.Elementwise, "(between ops)");
            _phase = phase;
        }

        public void Observe(ObservedOp op)
        {
            bool attention = op.Output.Rank == 4 && op.Output.Size(2) == context || op.Inputs.Any(t => t.Rank == 4 && t.Size(2) == context);
            var category = attention ? Category.Attention : op.Kind is OpKind.MatMul or OpKind.AddMatMul ? Category.MatMul : Category.Elementwise;
            Charge(category, $"{op.Name} [{string.Join(",", op.Output.Shape)}]");
        }

        void Charge(Category category, string name)
        {
            var now = _clock.Elapsed;
            double ms = (now - _last).TotalMilliseconds;
            _last = now;
            _ms[(int)_phase, (int)category] += ms;
            string key = $"{_phase,-9} {category,-11} {name}";
            var (total, count) = _ops.GetValueOrDefault(key);
            _ops[key] = (total + ms, count + 1);
        }

        public void Print()
        {
            Console.WriteLine("\none observed step, ms (attention = ops on [B, H, T, *] tensors; matmul = the other matrix products):\n");
            Console.WriteLine("| phase | attention | matmul | elementwise | total |");
            Console.WriteLine("|---|---:|---:|---:|---:|");
            foreach (var phase in Enum.GetValues<Phase>())
            {
                int p = (int)phase;
                Console.WriteLine($"| {phase} | {_ms[p, 0]:F1} | {_ms[p, 1]:F1} | {_ms[p, 2]:F1} | {_ms[p, 0] + _ms[p, 1] + _ms[p, 2]:F1} |");
            }
            Console.WriteLine("\nlargest ops:");
            foreach (var (key, (ms, count)) in _ops.OrderByDescending(kv => kv.Value.Ms).Take(30))
                Console.WriteLine($"{ms,8:F2} ms {count,4}x  {key}");
        }
    }
}
