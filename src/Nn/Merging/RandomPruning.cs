namespace Engine.Nn.Merging;

/// <summary>
/// DARE's "drop and rescale" (Yu et al. 2024, "Language Models are Super Mario", §3, Eq. 1): each entry is kept with
/// probability p = density, independently, and the kept ones are divided by p, so the expectation of every entry is
/// unchanged: E[m·x/p] = x. PEFT's <c>random_pruning</c> (<c>src/peft/utils/merge_utils.py</c>) draws the mask from
/// torch's global generator; here it comes from a seeded <see cref="Generator"/>, so a merge is reproducible.
/// </summary>
public static class RandomPruning
{
    /// <summary>
    /// <paramref name="tensor"/> with each entry kept with probability <paramref name="density"/> (else 0), kept entries
    /// divided by the density when <paramref name="rescale"/>. Density 1 returns the values unchanged (PEFT: no pruning).
    /// <code>RandomPruning.Prune(delta, 0.1, rescale: true, new Generator(7))</code>
    /// </summary>
    /// <exception cref="ArgumentException">Density outside [0, 1]; density 0 with rescaling (1/p undefined); a non-floating tensor.</exception>
    public static Tensor Prune(Tensor tensor, double density, bool rescale, Generator generator)
    {
        PruningDensity.Check("RandomPruning", density);
        if (!tensor.DType.IsFloating()) throw new ArgumentException($"RandomPruning: needs a floating tensor, got {tensor.DType.Name()} {Shapes.Format(tensor.Shape)}");
        if (density >= 1) return tensor.Clone();
        // PEFT would divide by 0 and return NaN wherever the entry was not 0.
        if (rescale && density == 0) throw new ArgumentException("RandomPruning: density 0 drops every entry and DARE's rescaling by 1/density is undefined; give a density above 0");
        var mask = Tensor.Bernoulli(tensor.Shape, density, tensor.DType, generator);
        var pruned = tensor * mask;
        return rescale ? pruned / density : pruned;
    }
}
