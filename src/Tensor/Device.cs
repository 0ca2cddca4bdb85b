using Engine.Backends;
using Engine.Backends.Cpu;
using Engine.Backends.Ilgpu;

namespace Engine;

/// <summary>Kinds of device a tensor can live on.</summary>
public enum DeviceKind
{
    /// <summary>The managed CPU backend.</summary>
    Cpu,
    /// <summary>An NVIDIA GPU through ILGPU's CUDA accelerator.</summary>
    Cuda,
    /// <summary>An OpenCL device through ILGPU's OpenCL accelerator.</summary>
    OpenCL,
    /// <summary>ILGPU's CPU accelerator: the GPU kernels run on CPU threads, so GPU code is testable everywhere.</summary>
    IlgpuCpu,
}

/// <summary>
/// Where a tensor's storage lives. <c>x.To(Device.IlgpuCpu)</c> moves a tensor; ops require their operands on one device.
/// GPU runtimes are only touched when an ILGPU device is first used, so the engine loads where no driver exists.
/// </summary>
public readonly record struct Device(DeviceKind Kind, int Index = 0)
{
    /// <summary>The managed CPU backend.</summary>
    public static Device Cpu => new(DeviceKind.Cpu);

    /// <summary>ILGPU's CPU accelerator (always available; runs the GPU kernels on CPU threads).</summary>
    public static Device IlgpuCpu => new(DeviceKind.IlgpuCpu);

    /// <summary>The <paramref name="index"/>-th CUDA GPU that ILGPU finds. <c>x.To(Device.Cuda(0))</c></summary>
    public static Device Cuda(int index = 0) => new(DeviceKind.Cuda, index);

    /// <summary>The <paramref name="index"/>-th OpenCL device that ILGPU finds.</summary>
    public static Device OpenCL(int index = 0) => new(DeviceKind.OpenCL, index);

    /// <summary>
    /// Devices usable on this machine: CPU and the ILGPU CPU accelerator always, then every CUDA and OpenCL device
    /// ILGPU can open (a missing or broken driver just means none of that kind).
    /// </summary>
    public static IReadOnlyList<Device> Available() => [Cpu, IlgpuCpu, .. IlgpuDevices.Gpus()];

    /// <summary>The backend that computes on this device (created on first use).</summary>
    internal IBackend Backend => Kind == DeviceKind.Cpu ? CpuBackend.Instance : IlgpuDevices.Backend(this);

    public override string ToString() => Kind switch
    {
        DeviceKind.Cpu => "cpu",
        DeviceKind.IlgpuCpu => "ilgpu-cpu",
        _ => $"{Kind.ToString().ToLowerInvariant()}:{Index}",
    };
}
