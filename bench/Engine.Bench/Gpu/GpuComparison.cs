using System.Globalization;
using Engine.Backends.Ilgpu;
using Engine.Bench.Gemm;
using ILGPU.Runtime.Cuda;

namespace Engine.Bench.Gpu;

/// <summary>
/// `gpu`: issue 7's GPU figures on one ILGPU device: SGEMM GFLOP/s of the engine's tiled kernel against cuBLAS
/// (through ILGPU.Algorithms, same process, same buffers) on square and transformer shapes, and the launch rate
/// of a chain of tiny elementwise ops. Without CUDA it runs on ILGPU's CPU accelerator (a smoke test, not a figure).
/// </summary>
internal static class GpuComparison
{
    public static int Run(string[] args)
    {
        CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
        bool quick = args.Contains("--quick");
        int at = Array.IndexOf(args, "--device");
        var available = Device.Available();
        var device = at >= 0 && at + 1 < args.Length
            ? available.FirstOrDefault(d => d.ToString() == args[at + 1], Device.Cpu)
            : available.FirstOrDefault(d => d.Kind == DeviceKind.Cuda, Device.IlgpuCpu);
        if (device.Kind == DeviceKind.Cpu)
        {
            Console.Error.WriteLine($"gpu: pick an ILGPU device with --device, one of: {string.Join(", ", available.Skip(1))}");
            return 2;
        }
        var backend = (IlgpuBackend)device.Backend;
        var accelerator = backend.Accelerator;
        Console.WriteLine(MachineInfo.Header());
        Console.WriteLine($"Device: {device} = {accelerator.Name} ({accelerator.AcceleratorType}), {accelerator.MemorySize / (1 << 20)} MiB");
        Timing.WarmUpSeconds = quick ? 0.01 : 0.5;
        int reps = quick ? 1 : 5;
        double minSeconds = quick ? 0.001 : 0.2;

        using var blas = accelerator is CudaAccelerator cuda ? new CuBlas(cuda) : null;
        (int M, int N, int K)[] shapes = quick
            ? [(64, 64, 64), (96, 80, 72)]
            : [(1024, 1024, 1024), (4096, 4096, 4096), (8192, 8192, 8192),
               (8192, 768, 768), (8192, 3072, 768), (8192, 768, 3072), (8192, 2304, 768)]; // GPT-2 small, 8 x 1024 tokens
        Console.WriteLine();
        Console.WriteLine("| M x N x K | engine GFLOP/s | cuBLAS GFLOP/s | engine / cuBLAS |");
        Console.WriteLine("|---|---:|---:|---:|");
        foreach (var (m, n, k) in shapes)
        {
            var a = Tensor.Randn([m, k], generator: new Generator(1), device: device);
            var b = Tensor.Randn([k, n], generator: new Generator(2), device: device);
            double flops = 2.0 * m * n * k;
            double engine = flops / Timing.MedianSeconds(() => { _ = a.MatMul(b); accelerator.Synchronize(); }, reps, minSeconds) / 1e9;
            string cublas = "n/a", ratio = "n/a";
            if (blas is not null)
            {
                var c = Tensor.Zeros([m, n], DType.Float32, device);
                var (av, bv, cv) = (View(a), View(b), View(c));
                // cuBLAS is column-major: row-major C = A B is column-major C^T = B^T A^T.
                double g = flops / Timing.MedianSeconds(() =>
                {
                    blas.Gemm(CuBlasOperation.NonTranspose, CuBlasOperation.NonTranspose, n, m, k, 1f, bv, n, av, k, 0f, cv, n);
                    accelerator.Synchronize();
                }, reps, minSeconds) / 1e9;
                cublas = $"{g:F1}";
                ratio = $"{engine / g:P0}";
            }
            Console.WriteLine($"| {m}x{n}x{k} | {engine:F1} | {cublas} | {ratio} |");
        }

        // Launch overhead: a chain of tiny dependent elementwise ops, synchronised once at the end.
        int chain = quick ? 200 : 10_000;
        var x = Tensor.Zeros([16], DType.Float32, device);
        double seconds = Timing.MedianSeconds(() =>
        {
            var y = x;
            for (int i = 0; i < chain; i++) y = y + 1;
            accelerator.Synchronize();
        }, reps, minSeconds);
        Console.WriteLine();
        Console.WriteLine($"Tiny elementwise chain ([16] + 1, {chain} ops): {chain / seconds:F0} ops/s");
        return 0;
    }

    static ILGPU.ArrayView<float> View(Tensor t) => ((IlgpuStorage)t.Storage).View<float>();
}
