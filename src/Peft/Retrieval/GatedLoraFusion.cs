namespace Engine.Peft.Retrieval;

/// <summary>
/// AutoLoRA's fine-grained gated fusion of k frozen LoRAs on one linear layer (spec seeds-remaining.md §1b):
/// h = x W0ᵀ + b0 + Σ_j g_j(x, q) · (α_j/r_j) · x A_jᵀ B_jᵀ with g = softmax(W_g [pool(x); e_q] + b_g) ∈ Δ^k.
/// pool is the identity per token for a decoder (<see cref="PerToken"/>, the text analogue of the paper's per-timestep
/// gate) or the mean over the sequence for an encoder. W_g = b_g = 0 at initialisation, so the layer starts as the
/// uniform 1/k merge. Trained: W_g and b_g only; the base layer and the LoRAs are frozen.
/// </summary>
public sealed class GatedLoraFusion : Module, IModuleWrapper
{
    /// <summary>
    /// Wraps <paramref name="baseLayer"/> with the LoRAs <paramref name="loras"/> (A [r_j, in], B [out, r_j], α_j/r_j)
    /// and a zero gate reading the query embedding of width <paramref name="queryDim"/>.
    /// </summary>
    public GatedLoraFusion(Linear baseLayer, IReadOnlyList<(Tensor A, Tensor B, double Scaling)> loras, int queryDim, bool perToken = true)
    {
        if (loras.Count == 0) throw new ArgumentException("GatedLoraFusion: needs at least one LoRA");
        if (queryDim < 0) throw new ArgumentException($"GatedLoraFusion: queryDim must be non-negative, got {queryDim}");
        int inF = baseLayer.InFeatures, outF = baseLayer.OutFeatures;
        RegisterModule("base_layer", baseLayer);
        baseLayer.RequiresGrad(false);
        Scalings = loras.Select(l => l.Scaling).ToArray();
        for (int j = 0; j < loras.Count; j++)
        {
            var (a, b, _) = loras[j];
            if (a.Rank != 2 || b.Rank != 2 || a.Size(1) != inF || b.Size(0) != outF || a.Size(0) != b.Size(1))
                throw new ArgumentException($"GatedLoraFusion: LoRA {j} has A {Shapes.Format(a.Shape)} and B {Shapes.Format(b.Shape)}, expected [r, {inF}] and [{outF}, r]");
            // Linear modules, so that each term is computed exactly as LoraLayer computes it.
            var down = RegisterModule($"lora_A_{j}", new Linear(inF, a.Size(0), bias: false));
            var up = RegisterModule($"lora_B_{j}", new Linear(a.Size(0), outF, bias: false));
            // In the factors' own dtype, so that a Float64 LoRA is not rounded.
            down.To(a.DType);
            up.To(b.DType);
            using (Autograd.Autograd.NoGrad())
            {
                down.Weight.CopyFrom(a.Detach().To(down.Weight.DType));
                up.Weight.CopyFrom(b.Detach().To(up.Weight.DType));
            }
            down.RequiresGrad(false);
            up.RequiresGrad(false);
        }
        var gate = RegisterModule("gate", new Linear(inF + queryDim, loras.Count, bias: true));
        using (Autograd.Autograd.NoGrad())
        {
            Init.Zeros(gate.Weight);
            Init.Zeros(gate.Bias!);
        }
        QueryDim = queryDim;
        PerToken = perToken;
        Query = Tensor.Zeros(queryDim);
    }

    /// <summary>k, the number of fused LoRAs.</summary>
    public int Count => Scalings.Count;

    /// <summary>α_j/r_j of each LoRA.</summary>
    public IReadOnlyList<double> Scalings { get; }

    /// <summary>Width of the query embedding e_q.</summary>
    public int QueryDim { get; }

    /// <summary>True: one gate per token (decoder); false: one gate per sequence from the mean over dimension −2 (encoder).</summary>
    public bool PerToken { get; }

    /// <summary>e_q [QueryDim], the text embedding of the query (frozen; set before the forward pass).</summary>
    public Tensor Query { get; set; }

    /// <summary>The gate (W_g [k, in + QueryDim], b_g [k]).</summary>
    public Linear Gate => Unwrapped<Linear>("gate");

    /// <summary>The frozen base layer.</summary>
    public Linear BaseLayer => Unwrapped<Linear>("base_layer");

    Module IModuleWrapper.Wrapped => BaseLayer;

    /// <summary>g(x, q) [..., k] (per token) or [batch..., 1, k] (per sequence) for input x [..., in].</summary>
    public Tensor Gates(Tensor x)
    {
        if (x.Rank < 1 || x.Size(-1) != BaseLayer.InFeatures)
            throw new ArgumentException($"GatedLoraFusion: expects [..., {BaseLayer.InFeatures}], got {Shapes.Format(x.Shape)}");
        if (Query.Numel != QueryDim) throw new ArgumentException($"GatedLoraFusion: query has {Query.Numel} values, expected {QueryDim}");
        var pooled = PerToken || x.Rank < 2 ? x : x.Mean(-2, keepDim: true);
        var shape = pooled.Shape.ToArray();
        shape[^1] = QueryDim;
        var q = Query.Detach().To(x.DType).Reshape([.. Enumerable.Repeat(1, shape.Length - 1), QueryDim]).Expand(shape);
        return Gate.Forward(Tensor.Concat([pooled, q], -1)).Softmax(-1);
    }

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input)
    {
        var g = Gates(input);
        var result = Child("base_layer").Forward(input);
        for (int j = 0; j < Count; j++)
        {
            var term = Child($"lora_B_{j}").Forward(Child($"lora_A_{j}").Forward(input)) * Scalings[j];
            result = result + term * g.Narrow(-1, j, 1);
        }
        return result;
    }
}
