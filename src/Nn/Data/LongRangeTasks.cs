namespace Engine.Nn;

/// <summary>
/// A synthetic long-dependency task: name the frequency of a noisy sine wave of length L. Each sequence is
/// sin(2 pi f t / L + phase) plus Gaussian noise, quantised to token ids; the label is the index of f among a few
/// frequencies. No short window decides it: the answer needs phase-coherent integration over the whole sequence,
/// which a state-space layer's long oscillating kernels do natively and softmax attention (non-negative weights)
/// does not.
/// </summary>
public static class LongRangeTasks
{
    /// <summary>Cycles per sequence of each class.</summary>
    public static readonly double[] Frequencies = [6, 8, 10, 12];

    /// <summary>Token ids [n, length] (values quantised into <paramref name="bins"/> levels over [-4, 4]) and labels [n].</summary>
    public static (Tensor Tokens, Tensor Labels) NoisySineFrequency(int n, int length, int bins, double noise, Generator generator)
    {
        if (length < 2 || bins < 2) throw new ArgumentException($"NoisySineFrequency: needs length >= 2 and bins >= 2, got {length} and {bins}");
        var draws = Tensor.Rand([n, 2], dtype: DType.Float64, generator: generator).ToArray<double>();
        var gaussian = Tensor.Randn([n, length], dtype: DType.Float64, generator: generator).ToArray<double>();
        var tokens = new long[n * length];
        var labels = new long[n];
        for (int b = 0; b < n; b++)
        {
            int c = Math.Min((int)(draws[2 * b] * Frequencies.Length), Frequencies.Length - 1);
            double phase = draws[2 * b + 1] * 2 * Math.PI;
            labels[b] = c;
            for (int t = 0; t < length; t++)
            {
                double u = Math.Sin(2 * Math.PI * Frequencies[c] * t / length + phase) + noise * gaussian[b * length + t];
                tokens[b * length + t] = Math.Clamp((int)Math.Floor((u + 4) / 8 * bins), 0, bins - 1);
            }
        }
        return (Tensor.FromArray(tokens, [n, length]), Tensor.FromArray(labels, [n]));
    }
}
