namespace Engine.Peft.LowRank;

/// <summary>
/// MiCA, minor component adaptation (arXiv:2604.01694; PEFT's <c>mica_init</c> and <c>MiCALinearVariant</c>): B is
/// the r left singular vectors of the base weight with the smallest singular values, frozen; A starts at zero and is
/// the only trained factor, so the update s B A stays in the base weight's least-used output directions. The forward
/// and merge are plain LoRA's; B is saved (PEFT writes it) and loaded like A.
/// </summary>
public sealed class MicaVariant : ILoraVariant
{
    /// <inheritdoc/>
    public (int[] A, int[] B) FactorShapes(LoraLayer layer, int r)
    {
        int k = Math.Min(layer.InFeatures, layer.OutFeatures);
        if (r > k) throw new ArgumentException($"MiCA: r = {r} exceeds min(in, out) = {k}");
        return ([r, layer.InFeatures], [layer.OutFeatures, r]);
    }

    /// <inheritdoc/>
    public void Init(LoraLayer layer, string name, Generator generator)
    {
        int r = layer.Settings(name).R;
        var weight = layer.BaseLayer.Weight;
        using (Autograd.Autograd.NoGrad())
        {
            var (u, _, _) = Linalg.Svd(weight.Detach().To(Device.Cpu).To(DType.Float64));
            // The last r columns of U: the minor components (singular values are descending).
            layer.SetFactors(name, Tensor.Zeros([r, layer.InFeatures], DType.Float64), u.Narrow(1, u.Size(1) - r, r).Contiguous());
        }
        layer.FreezeFactor("lora_B", name);
    }
}
