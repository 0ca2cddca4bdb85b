namespace Engine.Peft.Tucker;

/// <summary>
/// One FLoRA adapter's tensors, named as the reference's <c>FLoRALayer</c> (SJTU-DeepVisionLab/FLoRA
/// <c>flora/layers.py</c>): the core <c>param_G</c> [r0, …, r(N−1)] and the factors <c>param_i</c> [d_i, r_i], with the
/// modes ordered [in, out, …]. Files hold them as <c>&lt;module&gt;.flora_layer.param_G</c>, as the reference's state dict.
/// </summary>
public sealed class FloraCore : Module
{
    /// <summary>Registers a core of shape <paramref name="ranks"/> and factors [<paramref name="dims"/>[i], ranks[i]], all zero.</summary>
    public FloraCore(IReadOnlyList<int> dims, IReadOnlyList<int> ranks)
    {
        if (dims.Count != ranks.Count) throw new ArgumentException($"FloraCore: {dims.Count} dimensions but {ranks.Count} ranks");
        _modes = dims.Count;
        RegisterParameter("param_G", Tensor.Zeros([.. ranks]));
        for (int i = 0; i < dims.Count; i++) RegisterParameter($"param_{i}", Tensor.Zeros([dims[i], ranks[i]]));
    }

    readonly int _modes;

    // Looked up by name each time: a dtype or device move replaces the registered tensors.
    /// <summary>The core G.</summary>
    public Tensor Core => GetParameter("param_G");

    /// <summary>The factors P0 (input mode), P1 (output mode), ….</summary>
    public IReadOnlyList<Tensor> Factors => Enumerable.Range(0, _modes).Select(i => GetParameter($"param_{i}")).ToList();

    /// <summary>G ×_1 P0 ×_2 P1 … [d0, d1, …] (<see cref="TuckerProduct.Product"/>).</summary>
    public Tensor Product() => TuckerProduct.Product(Core, Factors);
}
