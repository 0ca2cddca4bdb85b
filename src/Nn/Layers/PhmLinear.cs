namespace Engine.Nn;

/// <summary>
/// A parameterised hypercomplex multiplication layer (Zhang et al., ICLR 2021, "Beyond Fully-Connected Layers with
/// Quaternions", arXiv 2102.08597; reference eleGAN23/HyperNets <c>layers/ph_layers.py</c> <c>PHMLinear</c>; spec
/// structure-and-optimizers.md §4.2): a linear layer whose weight is computed from other tensors,
/// W = Σ_{i&lt;n} A_i ⊗ S_i [out, in] with learned "rules" A [n, n, n] and S [n, out/n, in/n], and y = x W^T + b.
/// It has n³ + out·in/n weights instead of out·in (+ out for the bias); n = 1 is an ordinary <see cref="Linear"/>
/// (W = a S). Initialisation as the reference: Xavier-uniform for A and S (torch's fans of the 3-D tensors),
/// the bias U(±1/√in).
/// </summary>
public sealed class PhmLinear : Module
{
    /// <summary>A layer from <paramref name="inFeatures"/> to <paramref name="outFeatures"/> with <paramref name="n"/> Kronecker terms.</summary>
    /// <exception cref="ArgumentException"><paramref name="n"/> is below 1 or does not divide both widths.</exception>
    public PhmLinear(int n, int inFeatures, int outFeatures, bool bias = true, Generator? generator = null)
    {
        if (n < 1) throw new ArgumentException($"PhmLinear: n must be positive, got {n}");
        if (inFeatures < 1 || outFeatures < 1) throw new ArgumentException($"PhmLinear: widths must be positive, got in {inFeatures}, out {outFeatures}");
        if (inFeatures % n != 0 || outFeatures % n != 0)
            throw new ArgumentException($"PhmLinear: n = {n} must divide in_features ({inFeatures}) and out_features ({outFeatures})");
        N = n;
        InFeatures = inFeatures;
        OutFeatures = outFeatures;
        Init.XavierUniform(RegisterParameter("a", Tensor.Zeros(n, n, n)), generator: generator);
        Init.XavierUniform(RegisterParameter("s", Tensor.Zeros(n, outFeatures / n, inFeatures / n)), generator: generator);
        if (bias)
        {
            double bound = 1 / Math.Sqrt(inFeatures);
            Init.Uniform(RegisterParameter("bias", Tensor.Zeros(outFeatures)), -bound, bound, generator);
        }
    }

    /// <summary>The number n of Kronecker terms.</summary>
    public int N { get; }

    public int InFeatures { get; }
    public int OutFeatures { get; }

    /// <summary>The rules A [n, n, n].</summary>
    public Tensor A => GetParameter("a");

    /// <summary>The blocks S [n, out/n, in/n].</summary>
    public Tensor S => GetParameter("s");

    /// <summary>[out], or null without bias.</summary>
    public Tensor? Bias => FindParameter("bias");

    /// <summary>The computed weight W = Σ_i A_i ⊗ S_i [out, in] (differentiable in A and S).</summary>
    public Tensor Weight => KroneckerSum(A, S);

    /// <summary>The number of weights the layer holds: n³ + out·in/n, plus out with a bias.</summary>
    public static long ParameterCountFor(int n, int inFeatures, int outFeatures, bool bias = true) =>
        (long)n * n * n + (long)outFeatures * inFeatures / n + (bias ? outFeatures : 0);

    /// <summary>
    /// Σ_i A_i ⊗ B_i for A [n, p, q] and B [n, s, t]: [p s, q t], entry (a s + b, c t + d) = Σ_i A[i, a, c] B[i, b, d].
    /// One product over i ([p q, n] x [n, s t]) then a reordering, so the gradients with respect to both are products too.
    /// </summary>
    public static Tensor KroneckerSum(Tensor a, Tensor b)
    {
        if (a.Rank != 3 || b.Rank != 3 || a.Size(0) != b.Size(0))
            throw new ArgumentException($"PhmLinear.KroneckerSum: expects A [n, p, q] and B [n, s, t] with the same n, got {Shapes.Format(a.Shape)} and {Shapes.Format(b.Shape)}");
        int n = a.Size(0), p = a.Size(1), q = a.Size(2), s = b.Size(1), t = b.Size(2);
        var products = a.Reshape(n, p * q).T.MatMul(b.Reshape(n, s * t));  // [(a, c), (b, d)]
        return products.Reshape(p, q, s, t).Permute(0, 2, 1, 3).Reshape(p * s, q * t);
    }

    public override Tensor Forward(Tensor input)
    {
        if (input.Size(-1) != InFeatures)
            throw new ArgumentException($"PhmLinear: input {Shapes.Format(input.Shape)} has {input.Size(-1)} features, the layer expects {InFeatures}");
        var rows = input.Reshape(-1, InFeatures);
        var w = Weight;
        var y = Bias is null ? rows.MatMul(w.T) : Tensor.Addmm(Bias, rows, w.T);
        var shape = input.Shape;
        shape[^1] = OutFeatures;
        return y.Reshape(shape);
    }
}
