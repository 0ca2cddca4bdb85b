namespace Engine.Peft.SparseTuning;

/// <summary>
/// SPT's allocation of a parameter budget from sensitivities (Zhang et al. 2023, "Sensitivity-Aware Visual
/// Parameter-Efficient Fine-Tuning", ICCV 2023, arXiv:2303.08566; ziplab/SPT <c>engine.py::get_sensitivity</c>; spec
/// adapters-other.md §6): the elements of all matrices are ranked by sensitivity; for each sweep point k the top
/// k·step elements are selected, and a matrix with g selected elements is tuned structurally (a rank-r LoRA,
/// p = r (in + out) parameters) when g ≥ p / α, otherwise on exactly those g entries; the sweep point whose total is
/// closest to the budget is taken, a later point winning a tie (the reference's <c>&lt;=</c>).
/// Tie rule of the ranking (torch.topk leaves it unspecified): equal sensitivities are ranked by the matrix's order, then
/// by the row-major position in the matrix. The totals never decrease along the sweep (a matrix only gains elements,
/// and a switch to LoRA raises its count from g to p), so the sweep stops at the first total at or above the budget.
/// Deviations: only the targeted matrices compete (the reference also ranks biases and norms, which it tunes whole or
/// sparsely, and adds the head's 768); the sweep step is a count of elements (the reference's 0.02 M).
/// </summary>
public static class SptAllocation
{
    /// <summary>One matrix competing for the budget: its sensitivities [out · in] in row-major order.</summary>
    public sealed record Matrix(string Path, int Out, int In, double[] Sensitivity);

    /// <summary>What a matrix gets: LoRA (<see cref="Structured"/>), or the sorted flat positions of its selected entries (maybe none).</summary>
    public sealed record Choice(bool Structured, long[] Positions)
    {
        /// <summary>Its trainable count for LoRA rank <paramref name="r"/>.</summary>
        public long Count(Matrix m, int r) => Structured ? (long)r * (m.In + m.Out) : Positions.Length;
    }

    /// <summary>The chosen sweep point: how many top elements were selected, the per-matrix choices, and every sweep total up to it.</summary>
    public sealed record Result(long Selected, IReadOnlyList<Choice> Choices, long Total, IReadOnlyList<(long Selected, long Total)> Sweep);

    /// <summary>Allocates <paramref name="budget"/> trainable parameters over <paramref name="matrices"/>.</summary>
    /// <exception cref="ArgumentException">No matrices, a sensitivity array of the wrong length, or a non-positive r, α, budget or step.</exception>
    public static Result Allocate(IReadOnlyList<Matrix> matrices, int r, double alpha, long budget, long step)
    {
        if (matrices.Count == 0) throw new ArgumentException("SptAllocation: no matrices to allocate over");
        if (r < 1 || !(alpha > 0) || budget < 1 || step < 1) throw new ArgumentException($"SptAllocation: r, alpha, budget and step must be positive, got {r}, {alpha}, {budget}, {step}");
        var offsets = new long[matrices.Count + 1];
        for (int m = 0; m < matrices.Count; m++)
        {
            var x = matrices[m];
            if (x.Sensitivity.Length != (long)x.Out * x.In)
                throw new ArgumentException($"SptAllocation: '{x.Path}' has {x.Sensitivity.Length} sensitivities for a {x.Out}x{x.In} matrix");
            offsets[m + 1] = offsets[m] + x.Sensitivity.Length;
        }
        long n = offsets[^1];
        var order = Ranking(matrices, n);
        var owner = new int[n];
        for (int m = 0; m < matrices.Count; m++)
            for (long i = offsets[m]; i < offsets[m + 1]; i++) owner[i] = m;

        var counts = new long[matrices.Count];
        var sweep = new List<(long, long)>();
        long taken = 0, bestSelected = 0, bestTotal = 0;
        double bestDistance = double.PositiveInfinity;
        for (long k = 1; taken < n; k++)
        {
            long target = Math.Min(k * step, n);
            for (; taken < target; taken++) counts[owner[order[taken]]]++;
            long total = 0;
            for (int m = 0; m < matrices.Count; m++) total += IsStructured(counts[m], matrices[m], r, alpha) ? (long)r * (matrices[m].In + matrices[m].Out) : counts[m];
            sweep.Add((taken, total));
            if (Math.Abs(total - budget) <= bestDistance) (bestDistance, bestSelected, bestTotal) = (Math.Abs(total - budget), taken, total);
            if (total >= budget) break;
        }

        var positions = new List<long>[matrices.Count];
        for (int m = 0; m < matrices.Count; m++) positions[m] = [];
        for (long i = 0; i < bestSelected; i++)
        {
            long g = order[i];
            positions[owner[g]].Add(g - offsets[owner[g]]);
        }
        var choices = new Choice[matrices.Count];
        for (int m = 0; m < matrices.Count; m++)
        {
            bool structured = IsStructured(positions[m].Count, matrices[m], r, alpha);
            var p = structured ? [] : positions[m].ToArray();
            Array.Sort(p);
            choices[m] = new Choice(structured, p);
        }
        return new Result(bestSelected, choices, bestTotal, sweep);
    }

    /// <summary>The reference's rule: g ≥ r (in + out) / α.</summary>
    public static bool IsStructured(long g, Matrix m, int r, double alpha) => g >= (double)r * (m.In + m.Out) / alpha;

    // Every element's global index (matrix offset + flat position), most sensitive first, ties by global index.
    static long[] Ranking(IReadOnlyList<Matrix> matrices, long n)
    {
        var keys = new double[n];
        var order = new long[n];
        long at = 0;
        foreach (var m in matrices)
            foreach (var s in m.Sensitivity)
            {
                if (!double.IsFinite(s)) throw new ArgumentException($"SptAllocation: '{m.Path}' has a non-finite sensitivity");
                keys[at] = -s;
                order[at] = at;
                at++;
            }
        Array.Sort(keys, order);
        // Array.Sort is not stable: put each run of equal sensitivities back in index order.
        for (long i = 0; i < n;)
        {
            long j = i + 1;
            while (j < n && keys[j] == keys[i]) j++;
            if (j - i > 1) Array.Sort(order, (int)i, (int)(j - i));
            i = j;
        }
        return order;
    }
}
