namespace Engine.Peft.Spectral;

/// <summary>
/// Where FourierFT's and WaveFT's n trainable coefficients sit in the [out, in] coefficient grid: PEFT draws
/// p = randperm(out·in, seed = random_loc_seed)[:n] with torch's generator and uses (row, col) = (p // in, p % in)
/// (<c>fourierft/layer.py</c>, <c>waveft/layer.py</c>). PEFT does not save them; <see cref="TorchRandperm"/> draws the
/// same numbers, so a PEFT file loads exactly from its seed.
/// </summary>
public static class SparseSpectrumPositions
{
    /// <summary>The flat positions p (row-major in [out, in]) of <paramref name="count"/> coefficients.</summary>
    /// <exception cref="ArgumentException">count is not in [1, out·in] (PEFT's check); the message names <paramref name="field"/>.</exception>
    public static long[] Draw(int outFeatures, int inFeatures, int count, ulong seed, string field = "n_frequency")
    {
        long cells = (long)outFeatures * inFeatures;
        if (count < 1 || count > cells)
            throw new ArgumentException($"{field} must be in [1, in·out = {cells}] for a [{outFeatures}, {inFeatures}] weight, got {count}");
        return TorchRandperm.First(cells, count, seed);
    }
}
