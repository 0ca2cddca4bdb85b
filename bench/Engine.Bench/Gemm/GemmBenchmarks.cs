using BenchmarkDotNet.Attributes;
using Engine.Backends.Cpu;

namespace Engine.Bench.Gemm;

/// <summary>BenchmarkDotNet view of square SGEMM: `-- bdn --filter *Gemm*`.</summary>
[MemoryDiagnoser]
public unsafe class GemmBenchmarks
{
    private float[] _a = [], _b = [], _c = [];

    /// <summary>Side of the square matrices.</summary>
    [Params(128, 512, 1024)]
    public int N { get; set; }

    /// <summary>Fills the operands.</summary>
    [GlobalSetup]
    public void Setup()
    {
        var rng = new Random(1);
        _a = Enumerable.Range(0, N * N).Select(_ => (float)rng.NextDouble()).ToArray();
        _b = Enumerable.Range(0, N * N).Select(_ => (float)rng.NextDouble()).ToArray();
        _c = new float[N * N];
    }

    /// <summary>C = A B on one thread.</summary>
    [Benchmark(Baseline = true)]
    public void SgemmOneThread() => Run(1);

    /// <summary>C = A B on all cores.</summary>
    [Benchmark]
    public void SgemmAllThreads() => Run(0);

    private void Run(int threads)
    {
        fixed (float* a = _a, b = _b, c = _c)
            PackedGemm.Gemm(N, N, N, 1f, a, N, 1, b, N, 1, 0f, c, N, threads);
    }
}
