namespace Engine.Nn.Merging;

/// <summary>The rule every pruning step of a merge applies to its density (the fraction of entries kept), so all refuse it alike.</summary>
public static class PruningDensity
{
    /// <summary>Throws unless <paramref name="density"/> is a number in [0, 1]; <paramref name="method"/> names the caller.</summary>
    /// <exception cref="ArgumentException">Naming the method and the density given.</exception>
    public static void Check(string method, double density)
    {
        // PEFT's prune() warns and keeps everything above 1; a density above 1 is a mistake, so it is refused here.
        if (!(density >= 0 && density <= 1))
            throw new ArgumentException($"{method}: density must be a fraction in [0, 1] (the share of entries kept), got {density.ToString(System.Globalization.CultureInfo.InvariantCulture)}");
    }
}
