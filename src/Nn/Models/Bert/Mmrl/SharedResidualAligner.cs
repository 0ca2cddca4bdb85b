namespace Engine.Nn;

/// <summary>
/// MMRL++'s shared residual representation aligner (SRRA; yunncheng/MMRL <c>clip/model_mmrlpp.py</c>; spec
/// seeds-remaining.md §5): maps the shared representation space R [n, d_r] into one encoder's width d_m at each
/// insertion layer i as <c>P_i(R) = R (W + A_i B_i)ᵀ + b_i</c>. W [d_m, d_r] is shared by the layers (a fresh
/// Linear's initialisation), each layer adds a rank-4 residual A_i B_i (A_i Kaiming-uniform with a = √5, B_i = 0, so
/// every layer starts from the same R Wᵀ + b) and its own copy b_i of the fresh bias. Parameters <c>weight</c>,
/// <c>bias_{i}</c>, <c>down_{i}</c> (A_i), <c>up_{i}</c> (B_i).
/// </summary>
public sealed class SharedResidualAligner : Module
{
    /// <summary>Rank of the per-layer residual (the released code's 4).</summary>
    public const int ResidualRank = 4;

    /// <summary>An aligner from width <paramref name="sharedWidth"/> to <paramref name="modelWidth"/> for <paramref name="layers"/> insertion layers.</summary>
    public SharedResidualAligner(int sharedWidth, int modelWidth, int layers, Generator? generator = null)
    {
        if (sharedWidth < 1 || modelWidth < 1 || layers < 1) throw new ArgumentException($"SharedResidualAligner: widths {sharedWidth}, {modelWidth} and layers {layers} must be positive");
        Layers = layers;
        var fresh = new Linear(sharedWidth, modelWidth, generator: generator);
        RegisterParameter("weight", fresh.Weight.Detach().Clone());
        for (int i = 0; i < layers; i++)
        {
            RegisterParameter($"bias_{i}", fresh.Bias!.Detach().Clone());
            Init.KaimingUniform(RegisterParameter($"down_{i}", Tensor.Zeros(modelWidth, ResidualRank)), Math.Sqrt(5), generator: generator);
            RegisterParameter($"up_{i}", Tensor.Zeros(ResidualRank, sharedWidth));
        }
    }

    /// <summary>The number of insertion layers.</summary>
    public int Layers { get; }

    /// <summary>P_i(R) [n, d_m] of the shared representation <paramref name="r"/> [n, d_r] for insertion layer <paramref name="layer"/>.</summary>
    public Tensor Project(Tensor r, int layer)
    {
        if ((uint)layer >= Layers) throw new ArgumentOutOfRangeException(nameof(layer), layer, $"SharedResidualAligner: {Layers} insertion layers");
        var weight = GetParameter("weight") + GetParameter($"down_{layer}").MatMul(GetParameter($"up_{layer}"));
        return r.MatMul(weight.T) + GetParameter($"bias_{layer}");
    }
}
