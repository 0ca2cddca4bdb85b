namespace Engine.Peft.SharedBasis;

/// <summary>
/// AdaMSS's initialisation (PEFT's <c>adamss/utils.py</c> and <c>update_layer</c>; Zheng et al., "AdaMSS", 2025):
/// [W | b] ≈ U diag(σ) Vᵀ at rank R (newB = Vᵀ), the rows of U clustered into K groups by k-means, and per group the
/// top r_i right singular vectors of U's rows in the group as A_i [r_i, R]. PEFT takes A_i from a QR of
/// U_segᵀ·(top eigenvectors of U_seg U_segᵀ), which spans the same vectors (up to signs). Differences from PEFT,
/// none of which a file can show: the exact SVD instead of torch.svd_lowrank, and the engine's own seeded k-means
/// (random rows as initial centres, at most 10 Lloyd steps, as sklearn's KMeans(init="random", n_init=1,
/// max_iter=10)) instead of sklearn's; clusters are numbered by their first row.
/// </summary>
public static class AdamssSubspaces
{
    /// <summary>The initial decomposition: newB [R, cols] and the A_i (float64), the cluster of each output row, the cluster sizes.</summary>
    public sealed record Decomposition(Tensor NewB, Tensor[] A, int[] Assignment, int[] Sizes);

    /// <summary>Decomposes <paramref name="augmented"/> = [W | b] [out, cols] for <paramref name="config"/>; k-means draws from <paramref name="generator"/>.</summary>
    public static Decomposition Build(Tensor augmented, AdamssConfig config, Generator generator)
    {
        int rows = augmented.Size(0), cols = augmented.Size(1);
        int r = Math.Min(config.R, Math.Min(rows, cols));
        var (u, _, vh) = Linalg.SvdTopK(augmented.To(DType.Float64), r);
        var uu = u.Contiguous().ToDoubleArray();
        var assignment = KMeans(uu, rows, r, Math.Min(config.NumSubspaces, rows), 10, generator);
        int k = assignment.Max() + 1;
        var a = new Tensor[k];
        var sizes = new int[k];
        for (int i = 0; i < k; i++)
        {
            var seg = Enumerable.Range(0, rows).Where(j => assignment[j] == i).ToArray();
            sizes[i] = seg.Length;
            var block = new double[seg.Length * r];
            for (int j = 0; j < seg.Length; j++) Array.Copy(uu, seg[j] * r, block, j * r, r);
            var (_, s, segVh) = Linalg.Svd(Tensor.FromArray(block, [seg.Length, r]));
            int rank = SubspaceRank(s.ToDoubleArray(), seg.Length, r, config);
            a[i] = segVh.Narrow(0, 0, rank).Contiguous();
        }
        return new(vh.Contiguous(), a, assignment, sizes);
    }

    // PEFT's rank rule: min(|seg|, subspace_rank), or with use_dynamic_rank the count of σ² > threshold·σ₀² (the
    // eigenvalues of the Gram matrix U_seg U_segᵀ), at most subspace_rank; at least 1. Also at most R (PEFT would fail there).
    static int SubspaceRank(double[] singular, int size, int r, AdamssConfig c)
    {
        int cap = Math.Min(Math.Min(size, r), c.SubspaceRank);
        if (!c.UseDynamicRank) return Math.Max(1, cap);
        double top = singular.Length > 0 ? singular[0] * singular[0] : 0;
        int count = singular.Count(x => x * x > c.SvdThreshold * top);
        return Math.Max(1, Math.Min(count, cap));
    }

    /// <summary>
    /// k-means of the <paramref name="n"/> rows of <paramref name="x"/> [n, d] into <paramref name="k"/> clusters:
    /// distinct random rows as centres, then Lloyd steps until nothing moves or <paramref name="maxIter"/>; an empty
    /// cluster takes the row farthest from its centre. Clusters are renumbered in the order of their first row.
    /// </summary>
    public static int[] KMeans(double[] x, int n, int d, int k, int maxIter, Generator generator)
    {
        var keys = Tensor.Rand([n], generator: generator, dtype: DType.Float64).ToDoubleArray();
        var order = Enumerable.Range(0, n).OrderBy(i => keys[i]).ToArray();
        var centres = new double[k * d];
        for (int c = 0; c < k; c++) Array.Copy(x, order[c] * d, centres, c * d, d);
        var label = new int[n];
        double Dist(int row, int c)
        {
            double s = 0;
            for (int j = 0; j < d; j++) { double t = x[row * d + j] - centres[c * d + j]; s += t * t; }
            return s;
        }
        void Assign()
        {
            for (int i = 0; i < n; i++)
            {
                int best = 0;
                double bestD = double.PositiveInfinity;
                for (int c = 0; c < k; c++) { double dd = Dist(i, c); if (dd < bestD) { bestD = dd; best = c; } }
                label[i] = best;
            }
        }
        Assign();
        for (int it = 0; it < maxIter; it++)
        {
            var counts = new int[k];
            Array.Clear(centres);
            for (int i = 0; i < n; i++)
            {
                counts[label[i]]++;
                for (int j = 0; j < d; j++) centres[label[i] * d + j] += x[i * d + j];
            }
            for (int c = 0; c < k; c++)
                if (counts[c] > 0) for (int j = 0; j < d; j++) centres[c * d + j] /= counts[c];
            var previous = (int[])label.Clone();
            Assign();
            FillEmpty(label, counts, k, n, Dist, centres, x, d);
            if (previous.SequenceEqual(label)) break;
        }
        {
            var counts = new int[k];
            foreach (var l in label) counts[l]++;
            FillEmpty(label, counts, k, n, Dist, centres, x, d);
        }
        // Renumber by first row: the numbering no longer depends on which random rows started the centres.
        var map = new Dictionary<int, int>();
        foreach (var l in label) if (!map.ContainsKey(l)) map[l] = map.Count;
        return label.Select(l => map[l]).ToArray();
    }

    static void FillEmpty(int[] label, int[] counts, int k, int n, Func<int, int, double> dist, double[] centres, double[] x, int d)
    {
        Array.Clear(counts);
        foreach (var l in label) counts[l]++;
        for (int c = 0; c < k; c++)
        {
            if (counts[c] > 0) continue;
            int far = -1;
            double farD = -1;
            for (int i = 0; i < n; i++)
                if (counts[label[i]] > 1 && dist(i, label[i]) > farD) { farD = dist(i, label[i]); far = i; }
            if (far < 0) return;
            counts[label[far]]--;
            label[far] = c;
            counts[c] = 1;
            Array.Copy(x, far * d, centres, c * d, d);
        }
    }
}
