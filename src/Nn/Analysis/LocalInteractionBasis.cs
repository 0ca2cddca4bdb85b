namespace Engine.Nn;

/// <summary>
/// The local interaction basis, Jacobian variant (spec seeds-remaining.md §9b; Bushnaq et al. 2024, "Using Degeneracy in
/// the Loss Landscape for Mechanistic Interpretability"; ApolloResearch/rib <c>interaction_algos.py</c>), for a network
/// given as node layers f_0 → f_1 → … → f_L with f_{l+1} = map_l(f_l), each map acting on every row (sample) alone.
/// Computed backwards from the output layer, in Float64:
/// <list type="number">
/// <item>G = E[f fᵀ] = U D Uᵀ, eigenvalues below the truncation dropped; R = U D^{−1/2}, R⁺ = D^{1/2} Uᵀ.</item>
/// <item>M′ = E[Jᵀ J] with J = ∂(f_{l+1} C_{l+1}) / ∂f_l (output layer: C_L = U, the plain eigenbasis).</item>
/// <item>M = R⁺ M′ R⁺ᵀ = V Λ Vᵀ, small Λ dropped.</item>
/// <item>C = R V Λ^{1/2}, C⁺ = Λ^{−1/2} Vᵀ R⁺, f̂ = f C.</item>
/// </list>
/// Biases are folded: each non-output f carries a last constant-1 component, and a map reads that component as the
/// multiplier of its bias (<see cref="LinearMap"/>), so the bias direction is a direction of f like any other.
/// The Jacobians come from autograd: one backward pass per column of f_{l+1} C_{l+1}, exact for any map whose rows are
/// independent (Linear + any elementwise activation, LayerNorm, a tied head).
/// Truncation is relative: an eigenvalue is kept when it exceeds <c>truncation × the largest</c>, so the kept set does not
/// depend on the scale of f or of the output (rib uses an absolute 1e-5).
/// </summary>
public static class LocalInteractionBasis
{
    /// <summary>The default relative truncation of D and Λ.</summary>
    public const double DefaultTruncation = 1e-8;

    /// <summary>
    /// The bases of every node layer, input first. <paramref name="inputs"/> are the rows of f_0 [N, d_0] without the
    /// constant; <paramref name="maps"/>[l] takes f_l with its constant [N, d_l + 1] (Float64) to f_{l+1} [N, d_{l+1}].
    /// </summary>
    public static IReadOnlyList<InteractionBasisLayer> Compute(Tensor inputs, IReadOnlyList<Func<Tensor, Tensor>> maps, double truncation = DefaultTruncation)
    {
        if (inputs.Rank != 2 || inputs.Size(0) == 0) throw new ArgumentException($"LocalInteractionBasis: inputs must be rows [N, d] with N ≥ 1, got {Shapes.Format(inputs.Shape)}");
        if (maps.Count == 0) throw new ArgumentException("LocalInteractionBasis: needs at least one map (two node layers)");
        if (!(truncation >= 0 && truncation < 1)) throw new ArgumentException($"LocalInteractionBasis: truncation must be in [0, 1), got {truncation}");
        // Forward: every node layer's rows, constants appended to all but the output.
        var layers = new List<Tensor> { WithConstant(inputs) };
        using (Autograd.Autograd.NoGrad())
            for (int l = 0; l < maps.Count; l++)
            {
                var next = Apply(maps[l], layers[l], l);
                layers.Add(l + 1 < maps.Count ? WithConstant(next) : next);
            }
        var result = new InteractionBasisLayer[maps.Count + 1];
        result[^1] = OutputLayer(Gram(layers[^1]), truncation);
        for (int l = maps.Count - 1; l >= 0; l--)
        {
            // Only f_{l+1}'s non-constant components depend on f_l: its constant row of C contributes nothing to J.
            var next = result[l + 1];
            int outWidth = l + 1 < maps.Count ? next.Width - 1 : next.Width;
            result[l] = FromGramAndJacobian(Gram(layers[l]), JacobianGram(maps[l], layers[l], next.C.Narrow(0, 0, outWidth), l), truncation, hasConstant: true);
        }
        return result;
    }

    /// <summary>
    /// Steps 1, 3, 4 for one layer from its Gram matrix G = E[f fᵀ] [d, d] and M′ = E[Jᵀ J] [d, d].
    /// </summary>
    public static InteractionBasisLayer FromGramAndJacobian(Tensor gram, Tensor jacobianGram, double truncation = DefaultTruncation, bool hasConstant = false)
    {
        var (d, u) = DescendingEigh(gram, truncation, "G");
        // R = U D^{-1/2}, R⁺ = D^{1/2} Uᵀ (rib: U_D_sqrt = U D^{1/2} = R⁺ᵀ)
        var dArr = d.ToArray<double>();
        var rPinvT = u.Mul(Tensor.FromArray(dArr.Select(Math.Sqrt).ToArray(), [1, dArr.Length]));
        var r = u.Mul(Tensor.FromArray(dArr.Select(x => 1 / Math.Sqrt(x)).ToArray(), [1, dArr.Length]));
        var m = rPinvT.T.MatMul(jacobianGram.To(DType.Float64)).MatMul(rPinvT);
        var (lambda, v) = DescendingEigh(m, truncation, "M");
        var lArr = lambda.ToArray<double>();
        var c = r.MatMul(v).Mul(Tensor.FromArray(lArr.Select(Math.Sqrt).ToArray(), [1, lArr.Length]));
        var cPinv = Tensor.FromArray(lArr.Select(x => 1 / Math.Sqrt(x)).ToArray(), [lArr.Length, 1]).Mul(v.T.MatMul(rPinvT.T));
        return new InteractionBasisLayer(c.Contiguous(), cPinv.Contiguous(), lambda, d, u, hasConstant);
    }

    /// <summary>The output layer's basis: C = U, all eigenvectors of G (rib rotates the final layer without truncating), Λ = D.</summary>
    public static InteractionBasisLayer OutputLayer(Tensor gram, double truncation = DefaultTruncation)
    {
        var (d, u) = DescendingEigh(gram, 0, "G", dropNone: true);
        var values = d.ToArray<double>();
        int kept = values.Count(v => v > truncation * values[0]);
        if (kept == 0) throw new ArgumentException("LocalInteractionBasis: the output layer's G is zero; the network's output carries nothing");
        return new InteractionBasisLayer(u, u.T.Contiguous(), d, d.Narrow(0, 0, kept).Contiguous(), u.Narrow(1, 0, kept).Contiguous(), HasConstant: false);
    }

    /// <summary>
    /// The map of a Linear layer with folded bias and an elementwise activation: rows [N, in + 1] (last component the
    /// constant) to <c>activation(f[:, :in] Wᵀ + f[:, in] b)</c> [N, out], in Float64.
    /// </summary>
    public static Func<Tensor, Tensor> LinearMap(Tensor weight, Tensor? bias, Func<Tensor, Tensor>? activation)
    {
        if (weight.Rank != 2) throw new ArgumentException($"LocalInteractionBasis.LinearMap: weight must be [out, in], got {Shapes.Format(weight.Shape)}");
        int outF = weight.Size(0), inF = weight.Size(1);
        var w = weight.Detach().To(DType.Float64);
        var b = bias?.Detach().To(DType.Float64).Reshape(1, outF);
        return f =>
        {
            if (f.Rank != 2 || f.Size(1) != inF + 1)
                throw new ArgumentException($"LocalInteractionBasis.LinearMap: expects rows [N, {inF} + 1 constant], got {Shapes.Format(f.Shape)}");
            var z = f.Narrow(1, 0, inF).MatMul(w.T);
            if (b is not null) z = z + f.Narrow(1, inF, 1).Mul(b);
            return activation is null ? z : activation(z);
        };
    }

    /// <summary>Rows [N, d] with a last constant-1 component appended, [N, d + 1], Float64.</summary>
    public static Tensor WithConstant(Tensor f) =>
        Tensor.Concat([f.Detach().To(DType.Float64), Tensor.Ones([f.Size(0), 1], DType.Float64)], 1);

    /// <summary>E[f fᵀ] over the rows of f [N, d], [d, d] Float64.</summary>
    public static Tensor Gram(Tensor f)
    {
        var x = f.Detach().To(DType.Float64);
        return x.T.MatMul(x) * (1.0 / x.Size(0));
    }

    static Tensor Apply(Func<Tensor, Tensor> map, Tensor f, int l)
    {
        var y = map(f);
        if (y.Rank != 2 || y.Size(0) != f.Size(0))
            throw new ArgumentException($"LocalInteractionBasis: map {l} must return rows [{f.Size(0)}, d], got {Shapes.Format(y.Shape)}");
        return y.Detach().To(DType.Float64);
    }

    // M′ = E_n[J_nᵀ J_n] = (1/N) Σ_j g_jᵀ g_j, g_j [N, d] the gradient of Σ_n (f_{l+1} C)_{n j} with respect to f_l:
    // rows are independent, so row n of g_j is row j of J_n.
    static Tensor JacobianGram(Func<Tensor, Tensor> map, Tensor f, Tensor nextC, int l)
    {
        var input = f.Detach().Clone();
        input.RequiresGrad = true;
        using var _ = Autograd.Autograd.EnableGrad();
        var output = map(input).To(DType.Float64);
        if (output.Size(1) != nextC.Size(0))
            throw new ArgumentException($"LocalInteractionBasis: map {l} returned width {output.Size(1)}, the next layer has {nextC.Size(0)}");
        var projected = output.MatMul(nextC);
        int k = nextC.Size(1), d = f.Size(1);
        var sum = Tensor.Zeros([d, d], DType.Float64);
        for (int j = 0; j < k; j++)
        {
            var g = Autograd.Autograd.Grad(projected.Narrow(1, j, 1).Sum(), [input], retainGraph: j + 1 < k)[0].Detach();
            sum = sum + g.T.MatMul(g);
        }
        return sum * (1.0 / f.Size(0));
    }

    // Eigenpairs of a symmetric matrix, largest first, keeping those above truncation × the largest (all with dropNone).
    static (Tensor Values, Tensor Vectors) DescendingEigh(Tensor a, double truncation, string name, bool dropNone = false)
    {
        var sym = (a + a.T) * 0.5;
        var (w, v) = Linalg.EighSymmetric(sym.To(DType.Float64));
        var values = w.ToArray<double>();
        int n = values.Length;
        double top = values.Length == 0 ? 0 : values[^1];
        var order = Enumerable.Range(0, n).Reverse().Where(i => dropNone || (top > 0 && values[i] > truncation * top)).ToArray();
        if (order.Length == 0) throw new ArgumentException($"LocalInteractionBasis: {name} has no eigenvalue above the truncation (largest {top:G4}); the layer carries nothing");
        var index = Tensor.FromArray(order.Select(i => (long)i).ToArray(), [order.Length]);
        return (Tensor.FromArray(order.Select(i => values[i]).ToArray(), [order.Length]), v.IndexSelect(1, index).Contiguous());
    }
}
