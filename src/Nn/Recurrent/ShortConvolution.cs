namespace Engine.Nn;

/// <summary>
/// Causal depthwise 1-D convolution over time with a short kernel, as the "short convolutions" in front of the
/// delta rule (the DeltaNet architecture, Yang et al. 2024): y[t, c] = sum_i w[c, 0, i] x[t - (K - 1) + i, c].
/// The weight has torch.nn.Conv1d's depthwise layout [channels, 1, K] and no bias, so names and shapes map onto
/// flash-linear-attention's <c>ShortConvolution</c>. No activation here: the layer applies SiLU after it.
/// </summary>
public sealed class ShortConvolution : Module
{
    /// <summary>A convolution over <paramref name="channels"/> channels with a kernel of <paramref name="kernelSize"/> taps.</summary>
    public ShortConvolution(int channels, int kernelSize, Generator? generator = null)
    {
        if (channels <= 0 || kernelSize <= 0)
            throw new ArgumentException($"ShortConvolution: channels ({channels}) and kernel size ({kernelSize}) must be positive");
        Channels = channels;
        KernelSize = kernelSize;
        // torch.nn.Conv1d's default: Kaiming-uniform with a = sqrt 5, i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = K.
        double bound = 1 / Math.Sqrt(kernelSize);
        Init.Uniform(RegisterParameter("weight", Tensor.Zeros(channels, 1, kernelSize)), -bound, bound, generator);
    }

    /// <summary>Number of channels, each convolved with its own kernel.</summary>
    public int Channels { get; }

    /// <summary>Taps K of each kernel.</summary>
    public int KernelSize { get; }

    /// <summary>[channels, 1, K].</summary>
    public Tensor Weight => GetParameter("weight");

    /// <summary>x [B, T, channels] to [B, T, channels], with zeros before the first step.</summary>
    public override Tensor Forward(Tensor x) => Forward(x, null).Output;

    /// <summary>
    /// x [B, T, channels] to [B, T, channels]. <paramref name="history"/> [B, K - 1, channels] holds the inputs of the
    /// K - 1 steps before x (null: zeros, i.e. the start of a sequence); the returned history holds the last K - 1
    /// inputs of the history followed by x, for the next call (generation step by step).
    /// </summary>
    public (Tensor Output, Tensor History) Forward(Tensor x, Tensor? history)
    {
        if (x.Rank != 3 || x.Size(2) != Channels)
            throw new ArgumentException($"ShortConvolution: expects [batch, time, {Channels}], got {Shapes.Format(x.Shape)}");
        int b = x.Size(0), t = x.Size(1), k = KernelSize;
        if (history is not null && (history.Rank != 3 || history.Size(0) != b || history.Size(1) != k - 1 || history.Size(2) != Channels))
            throw new ArgumentException($"ShortConvolution: history must be [{b},{k - 1},{Channels}], got {Shapes.Format(history.Shape)}");
        // Left padding by K - 1 zeros (or the previous inputs) makes the convolution causal.
        var padded = history is null ? x.Pad([0, 0, k - 1, 0]) : Tensor.Concat([history, x], 1);
        var w = Weight.Reshape(Channels, k);
        Tensor? y = null;
        // Tap i sees the input K - 1 - i steps back: one shifted view of the padded input per tap, weighted per channel.
        for (int i = 0; i < k; i++)
        {
            var term = padded.Narrow(1, i, t) * w.Narrow(1, i, 1).Reshape(Channels);
            y = y is null ? term : y + term;
        }
        return (y!, padded.Narrow(1, t, k - 1));
    }
}
