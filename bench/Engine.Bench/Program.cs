using Engine.Bench;
using Engine.Bench.Autograd;
using Engine.Bench.Gemm;
using Engine.Bench.Generation;
using Engine.Bench.Gpu;
using Engine.Bench.Moe;
using Engine.Bench.Pretrained;
using Engine.Bench.Recurrent;
using Engine.Bench.Ssm;
using Engine.Bench.Training;

// A small dispatcher: one subcommand per benchmark family, so more can be added next to `gemm`.
var commands = new Dictionary<string, (string Help, Func<string[], int> Run)>
{
    ["gemm"] = ("side-by-side SGEMM: FMA peak, square and transformer shapes, PyTorch, M=1 vs dot loop [--quick]", GemmComparison.Run),
    ["autograd"] = ("cost of recording: 10,000 tiny elementwise ops with and without RequiresGrad [--quick]", RecordingOverhead.Run),
    ["training"] = ("tiny GPT training step, forward and KV-cache generation vs PyTorch; bytes and GC pause per step [--quick] [--profile: time by phase and op category]", TrainingStep.Run),
    ["decode"] = ("greedy decoding at batch 1 with the KV cache on the tiny GPT: Sampling.Generate vs the general Forward path [--quick] [--profile]", DecodeSpeed.Run),
    ["s4d"] = ("S4D: FFT vs direct causal convolution at L = 1024 and 4096, layer forward and backward, vs PyTorch [--quick]", S4DConvolution.Run),
    ["deltaproduct"] = ("DeltaProduct chunk-parallel vs naive recurrence, forward + backward at T = 1024 [--quick]", DeltaProductSpeed.Run),
    ["embed"] = ("all-MiniLM-L6-v2 sentence embeddings/s at batch 1 and 32, length 128, and load time, vs ONNX Runtime, alternating rounds [--quick] [--rounds N] [--profile] [--engine-only]", EmbedSpeed.Run),
    ["attention"] = ("inference attention at MiniLM's shapes: fused kernel vs composed ops, batch 1 and 32 [--quick]", AttentionSpeed.Run),
    ["gpu"] = ("ILGPU device: tiled SGEMM vs cuBLAS on square and transformer shapes, tiny-op launch rate [--device cuda:0] [--quick]", GpuComparison.Run),
    ["moe"] = ("mixture-of-experts FFN (E=4, top-1/top-2, d=128/256) forward and forward+backward vs the dense Mlp of the same active parameters [--quick] [--profile] [--threads N]", MoeSpeed.Run),
    ["bdn"] = ("BenchmarkDotNet micro-benchmarks, e.g. bdn --filter *Gemm*", BdnCommand.Run),
};

if (args.Length == 0 || !commands.TryGetValue(args[0], out var command))
{
    if (args.Length > 0) Console.Error.WriteLine($"unknown command '{args[0]}'");
    Console.Error.WriteLine("usage: dotnet run -c Release --project bench/Engine.Bench -- <command> [options]");
    foreach (var (name, (help, _)) in commands) Console.Error.WriteLine($"  {name,-6} {help}");
    return args.Length == 0 ? 0 : 2;
}
try
{
    return command.Run(args[1..]);
}
catch (Engine.Backends.Cpu.UnsupportedIsaException e)
{
    // A bad ENGINE_ISA is a setting to fix, not a crash to debug.
    Console.Error.WriteLine($"error: {e.Message}");
    return 2;
}
