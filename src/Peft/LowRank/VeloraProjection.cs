using Engine.Autograd;

namespace Engine.Peft.LowRank;

/// <summary>
/// VeLoRA's down-projection h = x Aᵀ with a compressed backward (Miles et al. 2024, arXiv:2405.17991, section 3;
/// PEFT's <c>VeloraFunction</c>, lora/velora.py). The forward is the plain product. For the backward it keeps, instead
/// of x [T, in], one number per sub-token: each row of x is cut into num_groups sub-tokens of D = ceil(in / num_groups)
/// features (the last zero-padded) and each sub-token z is kept as c = z·v, its coordinate on the unit vector v [D].
/// The weight gradient uses the rank-1 reconstruction x̂ = scale · (c ⊗ v) (cut back to in features):
/// ∂A ≈ gᵀ x̂ for the output gradient g [T, r]; the input gradient g A is exact.
/// <code>var h = new VeloraProjection(v, numGroups: 4, scale: 1).Apply(x, a); // == x Aᵀ, approximate ∂A</code>
/// </summary>
/// <param name="embed">The projection vector v [D] (unit norm; copied, so later updates of the caller's vector do not reach this op's backward).</param>
/// <param name="numGroups">Sub-tokens per row.</param>
/// <param name="scale">Factor on the reconstructed activations.</param>
public sealed class VeloraProjection(Tensor embed, int numGroups, double scale) : Function
{
    /// <summary>Elements this op kept for its backward on its last <see cref="Function.Apply"/>: c [T, num_groups], v [D] and A (plain LoRA keeps x [T, in] and A).</summary>
    public long SavedElements { get; private set; }

    /// <summary>The sub-token width D = ceil(in / num_groups) (PEFT's <c>_get_group_dim</c>).</summary>
    public static int GroupDim(int inFeatures, int numGroups) => (inFeatures + numGroups - 1) / numGroups;

    /// <summary>The rows of <paramref name="x"/> [..., in] as sub-tokens [rows, num_groups, D], zero-padded to num_groups · D features.</summary>
    public static Tensor SubTokens(Tensor x, int numGroups)
    {
        int inFeatures = x.Size(-1), d = GroupDim(inFeatures, numGroups);
        if (numGroups * d != inFeatures) x = x.Pad([0, numGroups * d - inFeatures]);
        return x.Reshape(-1, numGroups, d);
    }

    /// <summary>c [rows, num_groups]: each sub-token's coordinate on <paramref name="v"/> [D].</summary>
    public static Tensor Compress(Tensor x, Tensor v, int numGroups)
    {
        var sub = SubTokens(x, numGroups);
        return (sub.Reshape(-1, sub.Size(2)) % v.To(x.DType).Reshape(-1, 1)).Reshape(-1, numGroups);
    }

    /// <summary>x̂ [rows, in] = scale · (c ⊗ v), the padding cut off (PEFT's <c>_reconstruct_activations</c>).</summary>
    public static Tensor Reconstruct(Tensor c, Tensor v, int inFeatures, double scale)
    {
        var grouped = c.Unsqueeze(-1) * v.Reshape(1, 1, -1);
        return grouped.Reshape(-1, c.Size(1) * v.Size(0)).Narrow(1, 0, inFeatures) * scale;
    }

    /// <summary>v / ‖v‖ in float32, and the normalised ones vector for v = 0 (PEFT's <c>_normalize_projection</c>).</summary>
    public static Tensor Normalize(Tensor v)
    {
        var f = v.To(DType.Float32);
        double norm = f.Norm(2).Item();
        if (norm == 0) (f, norm) = (Tensor.Ones(f.Shape, DType.Float32).To(f.Device), Math.Sqrt(f.Numel));
        return f / norm;
    }

    /// <inheritdoc/>
    protected override Tensor Forward(FunctionContext ctx, Tensor[] inputs)
    {
        var (x, a) = (inputs[0], inputs[1]);
        int inFeatures = x.Size(-1);
        var shape = x.Shape;
        shape[^1] = a.Size(0);
        // The same product as Linear.Forward, so the forward is bit-identical to plain LoRA's.
        var h = x.Reshape(-1, inFeatures).MatMul(a.T).Reshape(shape);
        var v = embed.Clone();
        ctx.SaveForBackward(Compress(x, v, numGroups), a, v);
        ctx.Values["x"] = (x.Shape, x.RequiresGrad, a.RequiresGrad);
        SavedElements = ctx.SavedTensors.Sum(t => (long)t.Numel);
        return h;
    }

    /// <inheritdoc/>
    protected override Tensor?[] Backward(FunctionContext ctx, Tensor g)
    {
        var (c, a, v) = (ctx.SavedTensors[0], ctx.SavedTensors[1], ctx.SavedTensors[2]);
        var (xShape, xGrad, aGrad) = ((int[], bool, bool))ctx.Values["x"];
        var g2 = g.Reshape(-1, g.Size(-1));
        var gx = xGrad ? (g2 % a.To(g.DType)).Reshape(xShape) : null;
        var ga = aGrad ? g2.T % Reconstruct(c.To(g.DType), v.To(g.DType), xShape[^1], scale) : null;
        return [gx, ga?.To(a.DType)];
    }
}
