using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;
using ILGPU.Runtime.OpenCL;

namespace Engine.Backends.Ilgpu;

/// <summary>
/// The one ILGPU context of the process, created on the first use of an ILGPU device (never at load time, so the
/// engine runs where no GPU driver is installed), and one <see cref="IlgpuBackend"/> per device, created on demand.
/// </summary>
internal static class IlgpuDevices
{
    static readonly object Gate = new();
    static Context? _context;
    static readonly Dictionary<Device, IlgpuBackend> Backends = new();

    static Context Context
    {
        get
        {
            lock (Gate) return _context ??= CreateContext();
        }
    }

    static Context CreateContext()
    {
        // EnableAlgorithms maps System.Math onto device intrinsics and brings ILGPU.Algorithms' primitives.
        // A driver that is present but broken must not take the CPU accelerator down with it.
        try { return Context.Create(b => b.CPU().Cuda().OpenCL().EnableAlgorithms()); }
        catch (Exception) { return Context.Create(b => b.CPU().EnableAlgorithms()); }
    }

    /// <summary>CUDA then OpenCL devices that ILGPU finds; none when a driver is missing or fails.</summary>
    internal static IEnumerable<Device> Gpus()
    {
        var found = new List<Device>();
        try
        {
            var devices = Context.Devices;
            int cuda = 0, cl = 0;
            foreach (var d in devices)
            {
                if (d is CudaDevice) found.Add(Device.Cuda(cuda++));
                else if (d is CLDevice) found.Add(Device.OpenCL(cl++));
            }
        }
        catch (Exception) { } // discovery never throws: no usable driver means no GPU device
        return found;
    }

    /// <summary>The backend of an ILGPU device, opening its accelerator on first use.</summary>
    internal static IlgpuBackend Backend(Device device)
    {
        lock (Gate)
        {
            if (Backends.TryGetValue(device, out var backend)) return backend;
            var ilgpuDevice = Find(device);
            backend = new IlgpuBackend(device, ilgpuDevice.CreateAccelerator(Context));
            Backends[device] = backend;
            return backend;
        }
    }

    static ILGPU.Runtime.Device Find(Device device)
    {
        var matches = device.Kind switch
        {
            DeviceKind.IlgpuCpu => Context.Devices.Where(d => d is CPUDevice).ToList(),
            DeviceKind.Cuda => Context.Devices.Where(d => d is CudaDevice).ToList(),
            DeviceKind.OpenCL => Context.Devices.Where(d => d is CLDevice).ToList(),
            _ => throw new ArgumentException($"{device} is not an ILGPU device"),
        };
        int index = device.Kind == DeviceKind.IlgpuCpu ? 0 : device.Index;
        if (index < 0 || index >= matches.Count)
            throw new ArgumentException($"Device {device} is not available: ILGPU found {matches.Count} {device.Kind} device(s); see Device.Available()");
        return matches[index];
    }
}
