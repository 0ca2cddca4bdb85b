using Engine.Autograd;
using Engine.Bench.Gemm;

namespace Engine.Bench.Autograd;

/// <summary>
/// What recording costs: a chain of 10,000 tiny elementwise ops run with and without an input that requires grad
/// (issue target: at most 3x), plus the backward pass through the recorded chain.
/// </summary>
static class RecordingOverhead
{
    const int ChainLength = 10_000;

    public static int Run(string[] args)
    {
        bool quick = args.Contains("--quick");
        if (quick) Timing.WarmUpSeconds = 0.05;
        int reps = quick ? 3 : 7;
        double minSeconds = quick ? 0.05 : 0.3;
        Console.WriteLine(MachineInfo.Header());

        var plain = Tensor.Ones(4);
        var leaf = Tensor.Ones(4).RequireGrad();
        double without = Timing.MedianSeconds(() => Chain(plain), reps, minSeconds);
        double with = Timing.MedianSeconds(() => Chain(leaf), reps, minSeconds);
        double backward = Timing.MedianSeconds(() => { leaf.Grad = null; Chain(leaf).Sum().Backward(); }, reps, minSeconds);

        Console.WriteLine();
        Console.WriteLine($"| chain of {ChainLength:N0} elementwise ops on a [4] tensor | time | per op |");
        Console.WriteLine("|---|---:|---:|");
        Console.WriteLine($"| forward, no input requires grad | {without * 1e3:F2} ms | {without / ChainLength * 1e9:F0} ns |");
        Console.WriteLine($"| forward, recording (input requires grad) | {with * 1e3:F2} ms | {with / ChainLength * 1e9:F0} ns |");
        Console.WriteLine($"| forward + backward | {backward * 1e3:F2} ms | {backward / ChainLength * 1e9:F0} ns |");
        Console.WriteLine();
        Console.WriteLine($"recording overhead: {with / without:F2}x (target <= 3x)");
        return 0;
    }

    // Alternating multiply and add keep values bounded, so the chain is the same work every run.
    static Tensor Chain(Tensor x)
    {
        for (int i = 0; i < ChainLength / 2; i++) x = x * 0.999 + 0.001;
        return x;
    }
}
