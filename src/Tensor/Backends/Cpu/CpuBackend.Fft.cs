namespace Engine.Backends.Cpu;

public sealed partial class CpuBackend
{
    public void Rfft(StridedView x, StridedView y) => throw new NotImplementedException("Rfft: not yet implemented");

    public void Irfft(StridedView x, StridedView y) => throw new NotImplementedException("Irfft: not yet implemented");
}
