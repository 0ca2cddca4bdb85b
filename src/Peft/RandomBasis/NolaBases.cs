namespace Engine.Peft.RandomBasis;

/// <summary>
/// NOLA's frozen tensors of one layer, regenerated from the config's <c>nola_seed</c> and never saved: A0 [r, in]
/// (the reference's Kaiming-uniform(√5) <c>lora_A.weight</c>, U(±1/√in)), the bases P [k, r, in] of A and Q [k, out, r]
/// of B (the reference's <c>GenerateParams</c>: U(-1, 1) / √k, drawn here directly as U(±1/√k)). Each tensor has its
/// own <see cref="Generator"/> whose seed is derived from <c>nola_seed</c>, the layer's module path in the file
/// (<see cref="ModulePath.External"/>) and the tensor's name, so every layer and factor gets its own stream and the same
/// file gives the same tensors in every process (the reference re-seeds torch per factor with a saved random seed).
/// </summary>
/// <param name="A0">The fixed part of A [r, in].</param>
/// <param name="P">The bases of A [k, r, in].</param>
/// <param name="Q">The bases of B [k, out, r].</param>
public sealed record NolaBases(Tensor A0, Tensor P, Tensor Q)
{
    /// <summary>
    /// The generator seed of tensor <paramref name="tensor"/> ("A0", "P" or "Q") of the layer at <paramref name="path"/>:
    /// <see cref="AdapterContext.GeneratorFor"/>(nola_seed, path, tensor), i.e. FNV-1a over the UTF-16 code units of
    /// <c>path + "\0" + tensor</c> starting from 14695981039346656037 XOR nola_seed, then h XOR (h &gt;&gt; 29). The adapter's
    /// name takes no part: a file loaded under another name gets the same tensors.
    /// </summary>
    public static ulong SeedFor(ulong nolaSeed, string path, string tensor) => AdapterContext.GeneratorFor(nolaSeed, path, tensor).Seed;

    /// <summary>The tensors of a [<paramref name="outFeatures"/>, <paramref name="inFeatures"/>] layer at <paramref name="path"/>, in <paramref name="dtype"/> on the CPU.</summary>
    public static NolaBases Generate(ulong nolaSeed, string path, int r, int k, int inFeatures, int outFeatures, DType dtype)
    {
        double a0 = 1 / Math.Sqrt(inFeatures), basis = 1 / Math.Sqrt(k);
        return new(
            Tensor.Rand([r, inFeatures], -a0, a0, dtype, new Generator(SeedFor(nolaSeed, path, "A0"))),
            Tensor.Rand([k, r, inFeatures], -basis, basis, dtype, new Generator(SeedFor(nolaSeed, path, "P"))),
            Tensor.Rand([k, outFeatures, r], -basis, basis, dtype, new Generator(SeedFor(nolaSeed, path, "Q"))));
    }

    /// <summary>These tensors on <paramref name="device"/>.</summary>
    public NolaBases To(Device device) => new(A0.To(device), P.To(device), Q.To(device));
}
