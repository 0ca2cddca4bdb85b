namespace Engine.Nn;

/// <summary>
/// A weight-entangled linear layer (TangleNAS, Sukthanker et al. 2024, section 3; <c>optimizers/mixop/entangle.py</c>):
/// one maximum-size weight <c>W [out_max, in_max]</c> and bias; choice c uses the top-left slice
/// <c>W[:out_c, :in_c]</c>, <c>b[:out_c]</c>. The mixed op is one matmul at the maximum size:
/// <c>W̄ = Σ_c w_c · pad0(W[:out_c, :in_c])</c>, <c>b̄ = Σ_c w_c · pad0(b[:out_c])</c>, <c>y = x W̄ᵀ + b̄</c>,
/// instead of DARTS's Σ_c w_c op_c(x) (|C| forward passes). Since pad0(W[:out_c, :in_c]) = W ⊙ M_c with M_c the
/// 0/1 mask of the slice, W̄ = W ⊙ (Σ_c w_c M_c): autograd then gives ∂L/∂w_c = ⟨∂L/∂W̄, pad0(W_c)⟩_F.
/// Inputs and outputs are at the maximum sizes (narrower choices are zero-padded).
/// </summary>
public sealed class EntangledLinear : Module
{
    readonly Tensor _weightMasks, _biasMasks;

    /// <summary>A layer whose choices are the (out, in) slice sizes in <paramref name="choices"/>.</summary>
    /// <exception cref="ArgumentException">No choices, or a size that is not positive.</exception>
    public EntangledLinear(IReadOnlyList<(int Out, int In)> choices, bool bias = true, Generator? generator = null)
    {
        if (choices.Count == 0) throw new ArgumentException("EntangledLinear: needs at least one (out, in) choice");
        foreach (var (o, i) in choices)
            if (o <= 0 || i <= 0) throw new ArgumentException($"EntangledLinear: choice ({o}, {i}) must have positive sizes");
        Choices = choices.ToArray();
        OutMax = Choices.Max(c => c.Out);
        InMax = Choices.Max(c => c.In);
        var w = RegisterParameter("weight", Tensor.Zeros(OutMax, InMax));
        Init.Normal(w, 0, 0.02, generator);
        if (bias) RegisterParameter("bias", Tensor.Zeros(OutMax));
        // M_c stacked [C, out_max, in_max] and [C, out_max]: constants, so the mix is one weighted sum.
        var wm = new float[Choices.Count * OutMax * InMax];
        var bm = new float[Choices.Count * OutMax];
        for (int c = 0; c < Choices.Count; c++)
            for (int r = 0; r < Choices[c].Out; r++)
            {
                bm[c * OutMax + r] = 1;
                for (int k = 0; k < Choices[c].In; k++) wm[(c * OutMax + r) * InMax + k] = 1;
            }
        _weightMasks = Tensor.FromArray(wm, [Choices.Count, OutMax, InMax]);
        _biasMasks = Tensor.FromArray(bm, [Choices.Count, OutMax]);
    }

    /// <summary>The (out, in) slice of each choice.</summary>
    public IReadOnlyList<(int Out, int In)> Choices { get; }

    /// <summary>Largest output size.</summary>
    public int OutMax { get; }

    /// <summary>Largest input size.</summary>
    public int InMax { get; }

    /// <summary>The shared maximum-size weight [out_max, in_max].</summary>
    public Tensor Weight => GetParameter("weight");

    /// <summary>The shared bias [out_max], or null.</summary>
    public Tensor? Bias => FindParameter("bias");

    /// <summary>The mixed weight W̄ = Σ_c w_c · pad0(W[:out_c, :in_c]) for choice weights <paramref name="w"/> [C].</summary>
    public Tensor MixedWeight(Tensor w) => Weight * Mask(_weightMasks, w, 2);

    /// <summary>The mixed bias b̄ = Σ_c w_c · pad0(b[:out_c]), or null without a bias.</summary>
    public Tensor? MixedBias(Tensor w) => Bias is { } b ? b * Mask(_biasMasks, w, 1) : null;

    /// <summary>x [..., in_max] to x W̄ᵀ + b̄ [..., out_max], one matmul at the maximum size.</summary>
    /// <exception cref="ArgumentException">The weights are not a vector over the choices, or x's last size is not in_max.</exception>
    public Tensor Forward(Tensor x, Tensor w)
    {
        if (x.Rank < 1 || x.Size(-1) != InMax) throw new ArgumentException($"EntangledLinear: expects input [..., {InMax}], got {Shapes.Format(x.Shape)}");
        var y = x.MatMul(MixedWeight(w).T);
        return MixedBias(w) is { } b ? y + b : y;
    }

    /// <summary>Choice <paramref name="c"/>'s weight slice W[:out_c, :in_c] (a view of the shared weight).</summary>
    public Tensor WeightSlice(int c) => Weight.Narrow(0, 0, Choices[c].Out).Narrow(1, 0, Choices[c].In);

    /// <summary>Choice <paramref name="c"/>'s bias slice b[:out_c], or null.</summary>
    public Tensor? BiasSlice(int c) => Bias?.Narrow(0, 0, Choices[c].Out);

    Tensor Mask(Tensor masks, Tensor w, int trailing)
    {
        if (w.Rank != 1 || w.Size(0) != Choices.Count)
            throw new ArgumentException($"EntangledLinear: expects choice weights [{Choices.Count}], got {Shapes.Format(w.Shape)}");
        var shape = new int[trailing + 1];
        Array.Fill(shape, 1);
        shape[0] = Choices.Count;
        var m = masks.DType == w.DType ? masks : masks.To(w.DType);
        return (w.Reshape(shape) * m).Sum(0);
    }
}
