using Engine.Nn;

namespace Engine.Cli;

/// <summary>
/// A rough estimate of the memory a job needs, checked against what the process may use before any work starts, so a
/// size that cannot fit is refused in one line instead of ending in an OutOfMemoryException or the kernel's OOM killer.
/// The estimates count Float32 parameters with their gradient and AdamW moments (16 bytes each when training) and the
/// largest activations of a transformer layer per token (Korthikanti et al. 2022, section 4.1: about 34 widths per
/// token plus 5 attention scores per head and position, here in 4-byte elements); they aim to be within a few times
/// of the truth, which is enough to tell a feasible size from one that needs terabytes.
/// </summary>
static class MemoryEstimate
{
    /// <summary>The bytes this process may use: the container's limit, else the machine's memory.</summary>
    public static long Available => GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;

    /// <summary>Throws an <see cref="ArgumentException"/> saying what to lower when <paramref name="bytes"/> exceed <see cref="Available"/>.</summary>
    /// <param name="what">The sizes that need it, as the user gave them: <c>"--length 100000 with --width 64"</c>.</param>
    /// <param name="advice">What to lower: <c>"lower --length or --width"</c>.</param>
    public static void Require(double bytes, string what, string advice)
    {
        if (bytes <= Available) return;
        throw new ArgumentException($"{what} needs about {GiB(bytes)} of memory, more than the {GiB(Available)} this process may use; {advice}");
    }

    /// <summary>Bytes of a GPT of <paramref name="config"/> run on [<paramref name="batch"/>, <paramref name="time"/>] tokens, with or without training.</summary>
    public static double Gpt(GptConfig config, int batch, int time, bool training)
    {
        var mixers = TokenMixers.Resolve(config);
        double parameters = (double)config.VocabSize * config.DModel * (config.TiedHead ? 1 : 2)
            + (config.Rotary ? 0 : (double)config.ContextLength * config.DModel)
            + config.Layers * (4.0 + 2 * config.MlpRatio * FeedForwards(config)) * config.DModel * config.DModel;
        double perToken = 3.0 * config.VocabSize;
        foreach (var mixer in mixers)
            perToken += (training ? 1 : 0) * LayerPerToken(config.DModel, config.MlpRatio) + MixerPerToken(mixer, config, time);
        if (!training) perToken += LayerPerToken(config.DModel, config.MlpRatio) + 2.0 * config.Layers * config.DModel; // one layer's transients and the KV cache
        return 4 * (parameters * (training ? 4 : 1) + perToken * batch * time);
    }

    /// <summary>Bytes of the byte-level encoder of <c>engine classify</c> trained on [<paramref name="batch"/>, <paramref name="time"/>].</summary>
    public static double Encoder(TransformerEncoderConfig config, int batch, int time)
    {
        double parameters = (double)config.VocabSize * config.DModel + (double)config.ContextLength * config.DModel
            + config.Layers * (4.0 + 2 * config.MlpRatio) * config.DModel * config.DModel;
        double perToken = config.Layers * (LayerPerToken(config.DModel, config.MlpRatio) + 3.0 * config.Heads * time);
        return 4 * (parameters * 4 + perToken * batch * time);
    }

    /// <summary>
    /// Bytes that an adapter whose size knob is <paramref name="rank"/> adds to training a GPT of <paramref name="config"/>
    /// on [<paramref name="batch"/>, <paramref name="time"/>]: a low-rank pair on every linear layer (rank x (in + out)
    /// parameters, trained) and its rank-wide activation per token (kept, its gradient, the dropped-out input's copy).
    /// </summary>
    public static double Adapter(GptConfig config, int rank, int batch, int time)
    {
        double d = config.DModel, m = config.MlpRatio;
        double inPlusOut = config.Layers * (4 * d + 2 * d + 2 * (1 + m) * d) + d + config.VocabSize;
        int linears = 4 * config.Layers + 1;
        return 4 * ((double)rank * inPlusOut * 4 + (double)rank * linears * batch * time * 3);
    }

    // Dense feed-forward copies per layer: the experts and the shared one of a mixture of experts (each token's
    // activations are those of k experts, about what the dense estimate per token already allows for small k).
    static int FeedForwards(GptConfig config) => config.Moe is { } moe ? moe.Experts + (moe.SharedExpert ? 1 : 0) : 1;

    // Kept for the backward pass per token of a transformer layer: normalised inputs, q/k/v, attention output,
    // projections and the MLP's hidden activations before and after GELU.
    static double LayerPerToken(int width, int mlpRatio) => (12.0 + 3 * mlpRatio) * width;

    // Attention keeps scores and probabilities per head and earlier position; DeltaProduct a head's state per
    // Householder step; S4D its complex state.
    static double MixerPerToken(string mixer, GptConfig config, int time) => mixer switch
    {
        TokenMixers.Attention => 3.0 * config.Heads * time,
        TokenMixers.DeltaProduct => (double)config.DeltaHouseholder * config.DModel * config.DModel / config.Heads,
        TokenMixers.S4D => 2.0 * config.S4DStateSize * config.DModel,
        _ => 0,
    };

    static string GiB(double bytes) => bytes >= 1L << 30 ? $"{bytes / (1L << 30):F1} GiB" : $"{bytes / (1 << 20):F0} MiB";
}
