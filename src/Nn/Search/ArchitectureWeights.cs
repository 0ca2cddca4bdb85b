namespace Engine.Nn;

/// <summary>
/// The choice weights one forward pass of a <see cref="GptSupernet"/> mixes with (TangleNAS §3, spec §6): each row is
/// non-negative and sums to 1 (a sampler's output, or one-hot for a fixed architecture).
/// </summary>
/// <param name="Layers">Depth weights [|L|].</param>
/// <param name="Embed">Width weights [|E|] (global).</param>
/// <param name="Heads">Head weights [L_max, |H|] (per block).</param>
/// <param name="Mlp">MLP-ratio weights [L_max, |M|] (per block).</param>
public sealed record ArchitectureWeights(Tensor Layers, Tensor Embed, Tensor Heads, Tensor Mlp)
{
    /// <summary>The one-hot weights of <paramref name="architecture"/> (constants: no gradient, zero terms skipped).</summary>
    /// <exception cref="ArgumentException">A size of the architecture is not among the space's choices.</exception>
    public static ArchitectureWeights OneHot(GptSupernetConfig config, SupernetArchitecture architecture, DType dtype = DType.Float32)
    {
        int n = config.LayersMax;
        if (architecture.Heads.Length < architecture.Layers || architecture.MlpRatios.Length < architecture.Layers)
            throw new ArgumentException($"ArchitectureWeights: the architecture lists heads/MLP ratios for fewer than its {architecture.Layers} layers");
        Tensor Row(int[] list, int value, string name)
        {
            int i = Array.IndexOf(list, value);
            if (i < 0) throw new ArgumentException($"ArchitectureWeights: {name} {value} is not a choice of the space {{{string.Join(", ", list)}}}");
            var v = new double[list.Length];
            v[i] = 1;
            return Tensor.FromArray(v, [list.Length]).To(dtype);
        }
        // Blocks past the depth are never used; give them the first choice.
        Tensor Rows(int[] list, int[] values, string name) => Tensor.Stack(Enumerable.Range(0, n)
            .Select(i => Row(list, i < architecture.Layers ? values[i] : list[0], name)).ToArray());
        return new(Row(config.LayerChoices, architecture.Layers, "depth"), Row(config.EmbedChoices, architecture.Embed, "embed width"),
            Rows(config.HeadChoices, architecture.Heads, "head count"), Rows(config.MlpRatioChoices, architecture.MlpRatios, "MLP ratio"));
    }

    /// <summary>
    /// The weight of joint choices as vec(w1 ⊗ w2) (TangleNAS's entangled MLP/attention mixing): index i·|w2| + j holds
    /// w1_i · w2_j.
    /// </summary>
    public static Tensor Joint(Tensor w1, Tensor w2) => (w1.Unsqueeze(1) * w2.Unsqueeze(0)).Reshape(w1.Size(0) * w2.Size(0));

    /// <summary>The values of a constant weight vector, so exact-zero terms can be skipped; null when it needs gradients.</summary>
    internal static double[]? ConstantValues(Tensor w) => w.RequiresGrad ? null : w.To(DType.Float64).ToArray<double>();
}
