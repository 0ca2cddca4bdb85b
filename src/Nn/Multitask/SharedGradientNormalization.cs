namespace Engine.Nn;

/// <summary>
/// OFVL-MS's normalisation of the shared parameters' gradient (spec seeds-remaining.md §7): with g_t the gradient of
/// task t's loss with respect to the shared parameters (all of them flattened together),
/// <c>g_shared = Σ_t g_t · mean_u ‖g_u‖ / ‖g_t‖</c>, so every task pulls on the shared weights with the same strength,
/// whatever the scale of its loss. A task whose gradient is zero contributes nothing.
/// </summary>
public static class SharedGradientNormalization
{
    /// <summary>The combined gradient, one tensor per shared parameter, from <paramref name="perTask"/>[t][p].</summary>
    /// <exception cref="ArgumentException">No tasks, or tasks whose gradient lists differ in length or shapes.</exception>
    public static Tensor[] Combine(IReadOnlyList<Tensor[]> perTask)
    {
        if (perTask.Count == 0) throw new ArgumentException("SharedGradientNormalization: no tasks");
        int parameters = perTask[0].Length;
        for (int t = 1; t < perTask.Count; t++)
            if (perTask[t].Length != parameters || perTask[t].Zip(perTask[0]).Any(p => !p.First.Shape.SequenceEqual(p.Second.Shape)))
                throw new ArgumentException($"SharedGradientNormalization: task {t}'s gradients do not match task 0's parameters");
        var norms = perTask.Select(g => Math.Sqrt(g.Sum(x => x.To(DType.Float64).Square().Sum().Item()))).ToArray();
        double mean = norms.Average();
        var combined = perTask[0].Select(g => Tensor.Zeros(g.Shape, g.DType, g.Device)).ToArray();
        for (int t = 0; t < perTask.Count; t++)
        {
            if (norms[t] == 0) continue;
            double scale = mean / norms[t];
            for (int p = 0; p < parameters; p++) combined[p] = combined[p] + perTask[t][p] * scale;
        }
        return combined;
    }
}
