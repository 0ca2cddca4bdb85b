using Xunit;

namespace Engine.Tests.Devices;

/// <summary>
/// A test that needs a CUDA GPU: it runs where <see cref="Device.Available"/> finds one and is reported as skipped,
/// with the reason, everywhere else (CI has no GPU; a session lent one runs these for real).
/// </summary>
public sealed class CudaFactAttribute : FactAttribute
{
    public CudaFactAttribute()
    {
        if (!Device.Available().Any(d => d.Kind == DeviceKind.Cuda))
            Skip = "no CUDA device on this machine (these run where a GPU is present)";
    }
}
