namespace Engine.Backends.Ilgpu;

// Contract methods without an ILGPU kernel yet: they fail loudly rather than fall back to the host silently.
public sealed partial class IlgpuBackend
{
    public void LayerNorm(StridedView x, StridedView weight, StridedView bias, double eps, StridedView y, StridedView mean, StridedView rstd) => throw NotYet(nameof(LayerNorm));
    public void LayerNormBackward(StridedView x, StridedView weight, StridedView mean, StridedView rstd, StridedView grad, StridedView dx, StridedView dweight, StridedView dbias) => throw NotYet(nameof(LayerNormBackward));
    public void AdamStep(StridedView p, StridedView g, StridedView m, StridedView v, double beta1, double beta2, double eps, double stepSize, double c2, double decay) => throw NotYet(nameof(AdamStep));
    public void MatMul(StridedView a, StridedView b, StridedView y) => throw NotYet(nameof(MatMul));
    public void Gather(StridedView x, int axis, StridedView index, StridedView y) => throw NotYet(nameof(Gather));
    public void ScatterAdd(StridedView y, int axis, StridedView index, StridedView source) => throw NotYet(nameof(ScatterAdd));
    public void IndexSelect(StridedView x, int axis, StridedView index, StridedView y) => throw NotYet(nameof(IndexSelect));
    public void IndexAdd(StridedView y, int axis, StridedView index, StridedView source) => throw NotYet(nameof(IndexAdd));
    public void Random(RandomKind kind, ulong seed, ulong offset, StridedView y, double a, double b) => throw NotYet(nameof(Random));
    public void Rfft(StridedView x, StridedView y) => throw NotYet(nameof(Rfft));
    public void Irfft(StridedView x, StridedView y) => throw NotYet(nameof(Irfft));
}
