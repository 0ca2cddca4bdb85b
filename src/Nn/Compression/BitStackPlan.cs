namespace Engine.Nn.Compression;

/// <summary>
/// BitStack's size adjustment (spec adapters-other.md §17; reference xinghaow99/BitStack <c>bitstack/main.py</c> and
/// <c>bitstack/utils/model_utils.py</c>, <c>sort_layers_and_bits_average</c>, <c>generate_configs</c>): every weight
/// starts at one block; <see cref="Order"/> lists which weight gains its next block at each step, and
/// <see cref="CumulativeBytes"/>[p] is the model's stored size after the first p steps ([0]: one block everywhere plus
/// the tensors that are not compressed). A memory budget then selects the longest prefix that fits
/// (<see cref="Select"/>).
/// </summary>
/// <param name="Order">Weight indexes, one per added block: (blocks − 1) × weights entries.</param>
/// <param name="CumulativeBytes">Order.Count + 1 sizes in bytes, non-decreasing.</param>
public sealed record BitStackPlan(IReadOnlyList<int> Order, IReadOnlyList<long> CumulativeBytes)
{
    /// <summary>
    /// The order by importance: for b = 1..n−1, with every weight at b blocks, each weight in turn is raised to b+1 and
    /// <paramref name="lossOf"/> (a calibration loss of the model with those block counts) is measured; the weights are
    /// sorted by that loss ascending (the addition that helps most first), and the lists are
    /// concatenated over b. A NaN or infinite loss sorts last within its b (the reference substitutes the next b's
    /// loss plus the largest; with nothing trainable here a non-finite loss only means the model is broken at that size).
    /// </summary>
    /// <param name="blockBytes">Bytes of one block of each weight.</param>
    /// <param name="blocks">n, blocks per weight.</param>
    /// <param name="baseBytes">Bytes of everything that is not a block (embeddings, norms, biases).</param>
    /// <param name="lossOf">The loss with the given block count per weight; the array is the callee's to read, not keep.</param>
    public static BitStackPlan Build(IReadOnlyList<long> blockBytes, int blocks, long baseBytes, Func<int[], double> lossOf)
    {
        if (blockBytes.Count == 0) throw new ArgumentException("BitStackPlan.Build: no weights to order");
        if (blocks < 1) throw new ArgumentException($"BitStackPlan.Build: blocks must be at least 1, got {blocks}");
        int count = blockBytes.Count;
        var order = new List<int>((blocks - 1) * count);
        for (int b = 1; b < blocks; b++)
        {
            var losses = new double[count];
            var counts = Enumerable.Repeat(b, count).ToArray();
            for (int l = 0; l < count; l++)
            {
                counts[l] = b + 1;
                losses[l] = lossOf(counts);
                counts[l] = b;
            }
            // Stable: equal losses keep the weights' own order.
            order.AddRange(Enumerable.Range(0, count).OrderBy(l => double.IsFinite(losses[l]) ? 0 : 1).ThenBy(l => double.IsFinite(losses[l]) ? losses[l] : 0));
        }
        return FromOrder(order, blockBytes, baseBytes);
    }

    /// <summary>The plan of a given order, with its cumulative sizes.</summary>
    /// <exception cref="ArgumentException">An index in the order names no weight.</exception>
    public static BitStackPlan FromOrder(IReadOnlyList<int> order, IReadOnlyList<long> blockBytes, long baseBytes)
    {
        var memory = new long[order.Count + 1];
        memory[0] = baseBytes + blockBytes.Sum();
        for (int p = 0; p < order.Count; p++)
        {
            if (order[p] < 0 || order[p] >= blockBytes.Count)
                throw new ArgumentException($"BitStackPlan: order entry {p} is {order[p]}; weights are 0..{blockBytes.Count - 1}");
            memory[p + 1] = memory[p] + blockBytes[order[p]];
        }
        return new BitStackPlan(order.ToArray(), memory);
    }

    /// <summary>Block counts per weight after the first <paramref name="steps"/> entries of the order (1 + how often each appears).</summary>
    public int[] CountsAfter(int steps, int weights)
    {
        if (steps < 0 || steps > Order.Count)
            throw new ArgumentOutOfRangeException(nameof(steps), $"BitStackPlan.CountsAfter: steps must be 0..{Order.Count}, got {steps}");
        var counts = Enumerable.Repeat(1, weights).ToArray();
        for (int p = 0; p < steps; p++) counts[Order[p]]++;
        return counts;
    }

    /// <summary>
    /// The longest prefix of the order whose size is at most <paramref name="budgetBytes"/> (BitStack's
    /// <c>retrieve_compression_config</c>): all of it when the budget is above the total.
    /// </summary>
    /// <exception cref="ArgumentException">The budget is below the smallest configuration (one block per weight).</exception>
    public int Select(long budgetBytes)
    {
        if (budgetBytes < CumulativeBytes[0])
            throw new ArgumentException($"memory budget {budgetBytes} bytes ({budgetBytes / 1024.0:F1} KB) is below the smallest BitStack configuration, "
                + $"one block per weight: {CumulativeBytes[0]} bytes ({CumulativeBytes[0] / 1024.0:F1} KB)");
        int steps = 0;
        while (steps < Order.Count && CumulativeBytes[steps + 1] <= budgetBytes) steps++;
        return steps;
    }
}
