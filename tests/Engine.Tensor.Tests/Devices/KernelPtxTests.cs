using System.Reflection;
using Engine.Backends.Ilgpu;
using ILGPU;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.PTX;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;
using Xunit;

namespace Engine.Tests.Devices;

/// <summary>
/// ILGPU's CPU accelerator runs kernels as .NET code, so it cannot catch constructs a GPU backend rejects.
/// Compiling every kernel to PTX (no GPU or driver needed) closes that gap on every commit.
/// </summary>
public sealed class KernelPtxTests
{
    static readonly (Type T, Type E)[] Elements =
        [(typeof(float), typeof(F32)), (typeof(double), typeof(F64)), (typeof(int), typeof(I32)), (typeof(long), typeof(I64)), (typeof(byte), typeof(B8))];

    // Every kernel method of the backend, instantiated for each element type its generic parameters take.
    static IEnumerable<MethodInfo> Kernels()
    {
        var methods = typeof(IlgpuBackend).GetMethods(BindingFlags.NonPublic | BindingFlags.Static).Where(m => m.Name.EndsWith("Kernel"));
        foreach (var m in methods)
        {
            var arity = m.GetGenericArguments().Length;
            switch (arity)
            {
                case 0: yield return m; break;
                case 1: foreach (var (t, _) in Elements) yield return m.MakeGenericMethod(t); break;
                case 2: foreach (var (t, e) in Elements) yield return m.MakeGenericMethod(t, e); break;
                case 3: // group reductions: element type and reduction operator
                    foreach (var op in new[] { typeof(SumDouble), typeof(MaxDouble), typeof(MinDouble) })
                        yield return m.MakeGenericMethod(typeof(float), typeof(F32), op);
                    break;
                default: // conversions: source and destination element types
                    foreach (var (s, se) in Elements)
                        foreach (var (d, de) in Elements)
                            if (s != d) yield return m.MakeGenericMethod(s, se, d, de);
                    break;
            }
        }
    }

    [Fact]
    public void EveryKernel_CompilesToPtx()
    {
        using var context = Context.Create(b => b.CPU().EnableAlgorithms());
        using var backend = new PTXBackend(context, CudaArchitecture.SM_80, CudaInstructionSet.ISA_80, null!); // no NVVM: PTX comes from ILGPU's own generator
        var failures = new List<string>();
        int compiled = 0;
        foreach (var kernel in Kernels())
        {
            // Explicitly grouped kernels (tiled GEMM, group reductions) take no thread index parameter.
            bool implicitGroups = kernel.GetParameters()[0].ParameterType == typeof(Index1D);
            var entry = implicitGroups ? EntryPointDescription.FromImplicitlyGroupedKernel(kernel) : EntryPointDescription.FromExplicitlyGroupedKernel(kernel);
            try
            {
                var ptx = (PTXCompiledKernel)backend.Compile(entry, default(KernelSpecialization));
                Assert.Contains(".entry", ptx.PTXAssembly);
                compiled++;
            }
            catch (Exception e) when (e is not Xunit.Sdk.XunitException)
            {
                failures.Add($"{kernel.Name}<{string.Join(", ", kernel.GetGenericArguments().Select(a => a.Name))}>: {e.Message}");
            }
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures));
        Assert.True(compiled >= 80, $"only {compiled} kernel instantiations found");
    }
}
