namespace Engine.Nn;

/// <summary>A k-means clustering: each point's cluster, the centroids, and the Lloyd iterations it took.</summary>
/// <param name="Labels">Cluster of each point, in [0, k).</param>
/// <param name="Centroids">The k centroids, each of the points' dimension.</param>
/// <param name="Iterations">Lloyd iterations run (the last one changed no label, unless the limit was hit).</param>
public sealed record KMeansResult(int[] Labels, double[][] Centroids, int Iterations)
{
    /// <summary>Sum of squared distances of the points to their centroids (the k-means objective).</summary>
    public double Inertia(IReadOnlyList<double[]> points) =>
        points.Select((p, i) => KMeans.SquaredDistance(p, Centroids[Labels[i]])).Sum();
}

/// <summary>
/// Lloyd's k-means with k-means++ seeding (Arthur and Vassilvitskii 2007), drawn from an engine <see cref="Generator"/>
/// so a seed fixes the result. CLIP-MoE clusters each stage's features with scikit-learn's MiniBatchKMeans
/// (<c>train/cluster.ipynb</c>; spec structure-and-optimizers.md 2.3); on the few thousand texts a stage of the
/// text-only form sees, full-batch Lloyd is cheap and exact, so no mini-batches here.
/// <code>
/// var labels = KMeans.Fit(features, k: 3, new Generator(7)).Labels;
/// </code>
/// </summary>
public static class KMeans
{
    /// <summary>Clusters <paramref name="points"/> into <paramref name="k"/> groups.</summary>
    /// <exception cref="ArgumentException">k is not in [1, points], the points are empty or of different dimensions, or a coordinate is not finite.</exception>
    public static KMeansResult Fit(IReadOnlyList<double[]> points, int k, Generator generator, int maxIterations = 100)
    {
        if (points.Count == 0) throw new ArgumentException("KMeans: no points");
        if (k < 1 || k > points.Count) throw new ArgumentException($"KMeans: k = {k} must be in [1, {points.Count}] (the number of points)");
        if (maxIterations < 1) throw new ArgumentException($"KMeans: maxIterations = {maxIterations} must be at least 1");
        int d = points[0].Length;
        for (int i = 0; i < points.Count; i++)
        {
            if (points[i].Length != d) throw new ArgumentException($"KMeans: point {i} has {points[i].Length} coordinates, point 0 has {d}");
            if (points[i].Any(v => !double.IsFinite(v))) throw new ArgumentException($"KMeans: point {i} has a coordinate that is not finite");
        }

        var centroids = PlusPlusSeeds(points, k, generator);
        var labels = Enumerable.Repeat(-1, points.Count).ToArray();
        int iteration = 0;
        while (iteration < maxIterations)
        {
            iteration++;
            bool changed = false;
            for (int i = 0; i < points.Count; i++)
            {
                int nearest = Nearest(points[i], centroids);
                if (nearest != labels[i]) { labels[i] = nearest; changed = true; }
            }
            if (!changed) break;
            // Each centroid moves to the mean of its points; an emptied cluster keeps its centroid.
            for (int c = 0; c < k; c++)
            {
                var sum = new double[d];
                int count = 0;
                for (int i = 0; i < points.Count; i++)
                {
                    if (labels[i] != c) continue;
                    count++;
                    for (int j = 0; j < d; j++) sum[j] += points[i][j];
                }
                if (count > 0) centroids[c] = sum.Select(s => s / count).ToArray();
            }
        }
        return new KMeansResult(labels, centroids, iteration);
    }

    /// <summary>Squared Euclidean distance.</summary>
    public static double SquaredDistance(double[] a, double[] b)
    {
        double s = 0;
        for (int j = 0; j < a.Length; j++) { double t = a[j] - b[j]; s += t * t; }
        return s;
    }

    // The nearest centroid; a tie goes to the lower index so the result does not depend on float noise in ordering.
    static int Nearest(double[] p, double[][] centroids)
    {
        int best = 0;
        double bestDistance = SquaredDistance(p, centroids[0]);
        for (int c = 1; c < centroids.Length; c++)
        {
            double dist = SquaredDistance(p, centroids[c]);
            if (dist < bestDistance) { best = c; bestDistance = dist; }
        }
        return best;
    }

    // k-means++: the first seed uniformly, each next one with probability proportional to its squared distance to
    // the nearest seed so far (all points coincide with seeds: uniformly again).
    static double[][] PlusPlusSeeds(IReadOnlyList<double[]> points, int k, Generator generator)
    {
        var u = Tensor.Rand([k], dtype: DType.Float64, generator: generator).ToDoubleArray();
        var seeds = new List<double[]> { points[Pick(Enumerable.Repeat(1.0, points.Count).ToArray(), u[0])] };
        var nearest = points.Select(p => SquaredDistance(p, seeds[0])).ToArray();
        for (int c = 1; c < k; c++)
        {
            var weights = nearest.Sum() > 0 ? nearest : Enumerable.Repeat(1.0, points.Count).ToArray();
            var seed = points[Pick(weights, u[c])];
            seeds.Add(seed);
            for (int i = 0; i < points.Count; i++) nearest[i] = Math.Min(nearest[i], SquaredDistance(points[i], seed));
        }
        return seeds.Select(s => (double[])s.Clone()).ToArray();
    }

    // The index i where the running sum of the weights first exceeds u·total.
    static int Pick(double[] weights, double u)
    {
        double target = u * weights.Sum(), running = 0;
        for (int i = 0; i < weights.Length; i++)
        {
            running += weights[i];
            if (running > target && weights[i] > 0) return i;
        }
        return Array.FindLastIndex(weights, w => w > 0);
    }
}
