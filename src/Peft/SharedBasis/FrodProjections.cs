namespace Engine.Peft.SharedBasis;

/// <summary>
/// FRoD's shared part (PEFT's <c>frod/model.py</c>): per category, the basis V [in, in] from the joint decomposition
/// of the category's stacked weights, and the positions [2, nnz] and size [2] of the sparse S; files hold them as
/// <c>base_model.frod_V.&lt;category&gt;</c>, <c>base_model.frod_s_indices.&lt;category&gt;</c> (int64) and
/// <c>base_model.frod_s_size.&lt;category&gt;</c> (int64).
/// </summary>
public sealed class FrodProjections : AdapterModelPart, ISharedTensorOwner
{
    readonly List<string> _categories;

    /// <summary>Builds V and S's positions for every category of the adapter's targets (zeros when loading: the file's replace them).</summary>
    public FrodProjections(AdapterModelPartContext context) : base(context)
    {
        var c = (FrodConfig)context.Config;
        FromFile = context.FromFile;
        var groups = Groups(context);
        _categories = groups.Keys.ToList();
        var g = new Generator(c.ProjectionPrngKey);
        foreach (var (category, weights) in groups)
        {
            int inF = weights[0].Size(1), nnz = Nnz(inF, c.SparseRate);
            Tensor v, indices;
            if (context.FromFile)
            {
                v = Tensor.Zeros([inF, inF], weights[0].DType);
                indices = Tensor.Zeros([2, nnz], DType.Int64);
            }
            else
            {
                v = Projection(weights, c.RegularizationAlpha).To(weights[0].DType);
                indices = Positions(inF, nnz, g);
            }
            RegisterBuffer("frod_V_" + category, v);
            RegisterBuffer("frod_s_indices_" + category, indices);
            RegisterBuffer("frod_s_size_" + category, Tensor.FromArray(new long[] { inF, inF }, [2]));
        }
    }

    /// <summary>V [in, in] of <paramref name="category"/>.</summary>
    public Tensor V(string category) => Buffer("frod_V_" + category);

    /// <summary>S's positions [2, nnz] (rows, columns) of <paramref name="category"/>.</summary>
    public Tensor Indices(string category) => Buffer("frod_s_indices_" + category);

    /// <summary>S's size [2] of <paramref name="category"/> (PEFT's <c>frod_s_size</c>: [in, in]).</summary>
    public Tensor Size(string category) => Buffer("frod_s_size_" + category);

    /// <summary>True when the part was built for loading (V and the positions come from the file).</summary>
    public bool FromFile { get; private init; }

    Tensor Buffer(string name) => NamedBuffers().First(b => b.Name == name).Buffer;

    /// <summary>The tensors under their file keys, without creating them.</summary>
    public static IEnumerable<PlannedTensor> Plan(AdapterModelPartContext context)
    {
        var c = (FrodConfig)context.Config;
        foreach (var (category, weights) in Groups(context))
        {
            int inF = weights[0].Size(1);
            yield return new("base_model.frod_V." + category, [inF, inF]);
            yield return new("base_model.frod_s_indices." + category, [2, Nnz(inF, c.SparseRate)]) { Integer = true, IndexBound = inF };
            yield return new("base_model.frod_s_size." + category, [2]) { Integer = true };
        }
    }

    /// <inheritdoc/>
    public IEnumerable<SharedTensor> SharedTensors()
    {
        foreach (var category in _categories)
        {
            yield return new("base_model.frod_V." + category, V(category), true, false);
            yield return new("base_model.frod_s_indices." + category, Indices(category), true, false);
            yield return new("base_model.frod_s_size." + category, Size(category), true, false);
        }
    }

    /// <summary>
    /// PEFT's <c>_category_from_key</c>: the last two path parts joined by "_" (only the last when the one before is a
    /// number); BERT's attention.output.dense is "attention_output".
    /// </summary>
    public static string Category(string path)
    {
        var parts = path.Split('.');
        if (parts.Length == 1) return parts[0];
        if (parts[^2].All(char.IsAsciiDigit)) return parts[^1];
        var category = parts[^2] + "_" + parts[^1];
        return category == "output_dense" && parts.Length >= 3 && parts[^3] == "attention" ? "attention_output" : category;
    }

    // PEFT's _layer_index_from_key: the number after "layers", else the first numeric part, else the visiting order.
    static int LayerIndex(string path, int fallback)
    {
        var parts = path.Split('.');
        int at = Array.IndexOf(parts, "layers");
        if (at >= 0 && at + 1 < parts.Length && int.TryParse(parts[at + 1], out int i)) return i;
        foreach (var part in parts)
            if (part.Length > 0 && part.All(char.IsAsciiDigit)) return int.Parse(part);
        return fallback;
    }

    // Category (ordinal order, as Python's sorted) -> the weights [out, in] of its layers by layer index.
    static SortedDictionary<string, List<Tensor>> Groups(AdapterModelPartContext context)
    {
        var byIndex = new SortedDictionary<int, Dictionary<string, Tensor>>();
        int fallback = 0;
        foreach (var (path, module) in context.Targets)
        {
            var linear = module is AdapterLayer l ? l.BaseLayer : (Linear)module;
            int index = LayerIndex(path.External, fallback++);
            if (!byIndex.TryGetValue(index, out var roles)) byIndex[index] = roles = new();
            roles[Category(path.External)] = linear.Weight;
        }
        if (byIndex.Count == 0) throw new ArgumentException("FRoD: no target layers");
        var groups = new SortedDictionary<string, List<Tensor>>(StringComparer.Ordinal);
        foreach (var roles in byIndex.Values)
            foreach (var (category, w) in roles)
            {
                if (!groups.TryGetValue(category, out var list)) groups[category] = list = new();
                if (list.Count > 0 && list[0].Size(1) != w.Size(1))
                    throw new ArgumentException($"FRoD: the layers of category '{category}' have different input widths ({list[0].Size(1)}, {w.Size(1)}); they share one V");
                list.Add(w);
            }
        return groups;
    }

    /// <summary>PEFT's nnz: ⌊in² · sparse_rate⌋ capped at the in² − in off-diagonal positions, at least 1 when the rate is positive.</summary>
    public static int Nnz(int inF, double rate)
    {
        long offDiagonal = (long)inF * inF - inF;
        long nnz = Math.Min((long)(inF * (double)inF * rate), offDiagonal);
        if (rate > 0 && offDiagonal > 0) nnz = Math.Max(1, nnz);
        return (int)nnz;
    }

    // The first nnz of a random permutation of the off-diagonal positions (row-major), as rows [0] and columns [1].
    static Tensor Positions(int inF, int nnz, Generator g)
    {
        int count = inF * inF - inF;
        var keys = Tensor.Rand([Math.Max(count, 1)], 0, 1, DType.Float64, g).ToDoubleArray();
        var chosen = Enumerable.Range(0, count).OrderBy(i => keys[i]).Take(nnz).ToArray();
        var data = new long[2 * nnz];
        for (int k = 0; k < nnz; k++)
        {
            int row = chosen[k] / (inF - 1), rest = chosen[k] % (inF - 1);
            data[k] = row;
            data[nnz + k] = rest < row ? rest : rest + 1;  // skip the diagonal
        }
        return Tensor.FromArray(data, [2, nnz]);
    }

    /// <summary>
    /// PEFT's <c>_projection_from_weights</c> (float64): M = [W_1; …; W_L]; if M has fewer rows than columns, V = the
    /// right singular vectors; else M = Q R, T = mean_l (Q_lᵀ Q_l + α I)⁻¹ = E Λ Eᵀ and V = Rᵀ E.
    /// </summary>
    public static Tensor Projection(IReadOnlyList<Tensor> weights, double alpha)
    {
        var m = Tensor.Concat(weights.Select(w => w.Detach().To(DType.Float64)).ToArray(), 0);
        int inF = m.Size(1);
        if (m.Size(0) < inF) return Linalg.Svd(m, fullMatrices: true).Vh.T.Contiguous();
        var (q, r) = Linalg.Qr(m);
        var eye = Tensor.Eye(inF, null, DType.Float64);
        Tensor t = Tensor.Zeros([inF, inF], DType.Float64);
        int start = 0;
        foreach (var w in weights)
        {
            var ql = q.Narrow(0, start, w.Size(0));
            start += w.Size(0);
            t = t + Linalg.Inverse(ql.T.MatMul(ql) + eye * alpha);
        }
        t = t / weights.Count;
        t = (t + t.T) * 0.5;  // symmetric to rounding, for eigh
        var (_, e) = Linalg.EighSymmetric(t);
        return r.T.MatMul(e).Contiguous();
    }
}
