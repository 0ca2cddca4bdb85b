namespace Engine.Nn;

/// <summary>How <see cref="Masa"/> sets atoms and coefficients.</summary>
public enum MasaInit
{
    /// <summary>Training from scratch: atoms kaiming(√5) (U(±1/√in)), coefficients N(1/S, 0.02²) (the spec's engine choice; the paper gives none).</summary>
    Scratch,

    /// <summary>
    /// From a trained model: the rows vec(W_l) of each type stacked into X [L, rows·in]; the top-S right singular vectors
    /// are the atoms, the projections U_S Σ_S the coefficients — X's best rank-S approximation (Eckart–Young), exact
    /// when S = L. Not centred: a mean would need an extra shared term the formula W_l = Σ_s c_{l,s} D_s does not have.
    /// </summary>
    Pca,
}

/// <summary>One projection type of a MASA model and its size.</summary>
/// <param name="Type"><c>q</c>, <c>k</c>, <c>v</c>, <c>o</c>, <c>fc</c> or <c>proj</c>.</param>
/// <param name="Rows">d_out of the type's matrices.</param>
/// <param name="Cols">d_in of the type's matrices.</param>
/// <param name="Atoms">S.</param>
/// <param name="Layers">L: the layers sharing the atoms.</param>
public sealed record MasaType(string Type, int Rows, int Cols, int Atoms, int Layers)
{
    /// <summary>S·d_out·d_in + L·S (spec §14's count).</summary>
    public long ParameterCount => (long)Atoms * Rows * Cols + (long)Layers * Atoms;

    /// <summary>L·d_out·d_in: what the type's independent matrices held.</summary>
    public long DenseParameterCount => (long)Layers * Rows * Cols;
}

/// <summary>
/// MASA — matrix atoms shared across layers (arXiv 2508.04581; spec adapters-other.md §14, structure-and-optimizers.md
/// 1.6; paper only, the cited code is not available). For each projection type P, W^P_l = Σ_s c^P_{l,s} D^P_s with
/// S atoms shared by the L layers (<see cref="MasaWeight"/> in a <see cref="ComputedLinear"/>). The types are the
/// paper's Q, K, V, O: the GPT's fused <c>qkv</c> is split into its three row blocks, each with its own atoms, because
/// queries, keys and values are different maps (and with grouped-query attention K and V have fewer rows than Q);
/// sharing atoms over the fused matrix would tie them. The MLP's <c>fc</c> and <c>proj</c> can be shared as two more
/// types (not in the paper). Biases stay per layer. Merge: <see cref="ComputedLinear.Densify"/>.
/// <code>var masa = Masa.Apply(gpt, atoms: 2, MasaInit.Pca);</code>
/// </summary>
public static class Masa
{
    /// <summary>
    /// Shares the attention projections of every attention block of <paramref name="model"/> (and the MLP's with
    /// <paramref name="includeMlp"/>) over <paramref name="atoms"/> atoms per type, in place. Returns the types with their sizes.
    /// </summary>
    /// <exception cref="ArgumentException">S &lt; 1, S &gt; L for <see cref="MasaInit.Pca"/>, or no attention blocks.</exception>
    public static IReadOnlyList<MasaType> Apply(Gpt model, int atoms, MasaInit init = MasaInit.Scratch, bool includeMlp = false, Generator? generator = null)
    {
        if (atoms < 1) throw new ArgumentException($"Masa.Apply: needs at least one atom per type, got {atoms}");
        var kinds = includeMlp ? new[] { "qkv", "o", "fc", "proj" } : new[] { "qkv", "o" };
        var targets = GptLinears.Of(model, kinds);
        if (!targets.Any(t => t.Kind == "qkv")) throw new ArgumentException("Masa.Apply: the model has no attention blocks");

        // Each layer's matrices per type, row blocks of qkv split as Q, K, V.
        var parts = new Dictionary<GptLinear, List<(string Type, Tensor Weight)>>();
        foreach (var t in targets)
        {
            var w = t.Linear.Weight.Detach();
            if (t.Kind == "qkv")
            {
                var attn = (MultiHeadAttention)t.Parent;
                int q = attn.Options.Heads * attn.HeadDim, kv = attn.KvHeads * attn.HeadDim;
                parts[t] = [("q", w.Narrow(0, 0, q)), ("k", w.Narrow(0, q, kv)), ("v", w.Narrow(0, q + kv, kv))];
            }
            else parts[t] = [(t.Kind, w)];
        }

        var types = new List<MasaType>();
        var shared = new Dictionary<string, Tensor>();
        var coefficients = new Dictionary<(GptLinear, string), Tensor>();
        foreach (var type in parts.Values.SelectMany(p => p).Select(p => p.Type).Distinct().ToList())
        {
            var members = parts.Where(p => p.Value.Any(x => x.Type == type)).Select(p => (Layer: p.Key, Weight: p.Value.First(x => x.Type == type).Weight)).ToList();
            int layers = members.Count, rows = members[0].Weight.Size(0), cols = members[0].Weight.Size(1);
            if (init == MasaInit.Pca && atoms > Math.Min(layers, rows * cols))
                throw new ArgumentException($"Masa.Apply: PCA gives at most min(L, d_out·d_in) = {Math.Min(layers, rows * cols)} atoms for type '{type}', asked for {atoms}");
            var like = members[0].Weight;
            var d = Tensor.Zeros([atoms, rows, cols], like.DType, like.Device);
            var cs = members.Select(_ => Tensor.Zeros([atoms], like.DType, like.Device)).ToArray();
            using (Autograd.Autograd.NoGrad())
            {
                if (init == MasaInit.Scratch)
                {
                    double bound = 1 / Math.Sqrt(cols);
                    Init.Uniform(d, -bound, bound, generator);
                    foreach (var c in cs) Init.Normal(c, 1.0 / atoms, 0.02, generator);
                }
                else
                {
                    var x = Tensor.Stack(members.Select(m => m.Weight.Reshape(rows * cols)).ToArray(), 0).To(DType.Float64);
                    var (u, s, vh) = TopSingular(x, atoms);
                    d.CopyFrom(vh.Reshape(atoms, rows, cols).To(like.DType));
                    var proj = (u * s.Unsqueeze(0)).To(like.DType);
                    for (int l = 0; l < layers; l++) cs[l].CopyFrom(proj.Narrow(0, l, 1).Reshape(atoms));
                }
            }
            shared[type] = d;
            for (int l = 0; l < layers; l++) coefficients[(members[l].Layer, type)] = cs[l];
            types.Add(new MasaType(type, rows, cols, atoms, layers));
        }

        foreach (var (t, p) in parts)
        {
            var source = new MasaWeight(p.Select(x => new MasaPart(x.Type, shared[x.Type], coefficients[(t, x.Type)])).ToList());
            t.Replace(new ComputedLinear(source, t.Linear.Bias));
        }
        return types;
    }

    // The top-k singular triplets of a wide X [L, N] (L ≤ N) without an N×N factor: Xᵀ = Q R (thin, Q [N, L]), so
    // X = Rᵀ Qᵀ; the SVD of the small Rᵀ = U Σ Wᵀ gives X = U Σ (Q W)ᵀ. A tall X goes to the SVD directly.
    static (Tensor U, Tensor S, Tensor Vh) TopSingular(Tensor x, int k)
    {
        if (x.Size(0) > x.Size(1)) return Linalg.SvdTopK(x, k);
        var (q, r) = Linalg.Qr(x.T.Contiguous());
        var (u, s, wh) = Linalg.SvdTopK(r.T.Contiguous(), k);
        return (u, s, wh.MatMul(q.T));
    }
}
