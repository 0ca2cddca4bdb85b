namespace Engine.Nn;

/// <summary>
/// A Linear whose weight is stored as a rank-r product W ≈ A B, A [out, r], B [r, in]: two Linear layers, <c>down</c>
/// (x Bᵀ, no bias) then <c>up</c> (· Aᵀ + b), as FWSVD replaces a compressed layer (Hsu et al. 2022; spec
/// structure-and-optimizers.md §4.3, "replace the layer by two Linear layers of rank r"). It holds r·(in + out)
/// weights instead of in·out, so it is smaller only when r &lt; in·out / (in + out).
/// <code>var layer = LowRankLinear.FromFactors(a, b, linear.Bias); // y = (x Bᵀ) Aᵀ + bias</code>
/// </summary>
public sealed class LowRankLinear : Module
{
    /// <summary>A layer of rank <paramref name="rank"/> from <paramref name="inFeatures"/> to <paramref name="outFeatures"/>, factors zero (to be loaded).</summary>
    /// <exception cref="ArgumentException">A size is below 1.</exception>
    public LowRankLinear(int inFeatures, int outFeatures, int rank, bool bias = true)
    {
        if (inFeatures < 1 || outFeatures < 1 || rank < 1)
            throw new ArgumentException($"LowRankLinear: in {inFeatures}, out {outFeatures} and rank {rank} must be positive");
        InFeatures = inFeatures;
        OutFeatures = outFeatures;
        Rank = rank;
        var down = RegisterModule("down", new Linear(inFeatures, rank, bias: false));
        var up = RegisterModule("up", new Linear(rank, outFeatures, bias));
        using (Autograd.Autograd.NoGrad())
        {
            down.Weight.Fill(0);
            up.Weight.Fill(0);
            up.Bias?.Fill(0);
        }
    }

    /// <summary>The layer y = x (A B)ᵀ + bias with the given factors (copied).</summary>
    /// <exception cref="ArgumentException">A [out, r], B [r, in] and bias [out] do not fit together.</exception>
    public static LowRankLinear FromFactors(Tensor a, Tensor b, Tensor? bias)
    {
        if (a.Rank != 2 || b.Rank != 2 || a.Size(1) != b.Size(0) || (bias is not null && (bias.Rank != 1 || bias.Size(0) != a.Size(0))))
            throw new ArgumentException($"LowRankLinear.FromFactors: A {Shapes.Format(a.Shape)}, B {Shapes.Format(b.Shape)} and bias "
                + $"{(bias is null ? "none" : Shapes.Format(bias.Shape))} must be [out, r], [r, in] and [out]");
        var layer = new LowRankLinear(b.Size(1), a.Size(0), a.Size(1), bias is not null);
        using (Autograd.Autograd.NoGrad())
        {
            layer.Down.Weight.CopyFrom(b.Detach().To(DType.Float32));
            layer.Up.Weight.CopyFrom(a.Detach().To(DType.Float32));
            if (bias is not null) layer.Up.Bias!.CopyFrom(bias.Detach().To(DType.Float32));
        }
        return layer;
    }

    /// <summary>Input features.</summary>
    public int InFeatures { get; }

    /// <summary>Output features.</summary>
    public int OutFeatures { get; }

    /// <summary>r, the inner width.</summary>
    public int Rank { get; }

    /// <summary>x Bᵀ: B [r, in] is its weight.</summary>
    public Linear Down => Unwrapped<Linear>("down");

    /// <summary>· Aᵀ + bias: A [out, r] is its weight.</summary>
    public Linear Up => Unwrapped<Linear>("up");

    /// <summary>The dense weight A B [out, in] this layer applies.</summary>
    public Tensor DenseWeight() => Up.Weight.MatMul(Down.Weight);

    /// <summary>[..., in] to [..., out].</summary>
    public override Tensor Forward(Tensor input) => Child("up").Forward(Child("down").Forward(input));
}
