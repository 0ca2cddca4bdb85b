namespace Engine.Nn;

/// <summary>How to pick the next token: greedy, or sampled at a temperature, optionally restricted to the top-k or the top-p nucleus.</summary>
public sealed record SamplingOptions(double Temperature = 1.0, int TopK = 0, double TopP = 1.0, bool Greedy = false);

/// <summary>Autoregressive generation with the cache (keys and values, or recurrent states): the prompt runs once, then one token per step.</summary>
public static class Sampling
{
    /// <summary>
    /// Extends each prompt row [B, T0] by <paramref name="maxNewTokens"/> tokens. Stops a row early when
    /// <paramref name="stopToken"/> appears (the row is then padded with it). A <paramref name="cache"/> that already
    /// holds positions (prefix tuning's virtual keys and values) is continued; by default the cache starts empty.
    /// </summary>
    /// <remarks>
    /// One prompt row on the CPU with a fresh cache runs on <see cref="GptDecoder"/> when it covers the model (no
    /// allocation per token); anything else (a batch, a given cache, an adapter, another device) takes the general path.
    /// </remarks>
    public static Tensor Generate(Gpt model, Tensor prompt, int maxNewTokens, SamplingOptions options, Generator? generator = null, int? stopToken = null, KvCache? cache = null)
    {
        int contextLength = model.Config.Rotary ? int.MaxValue : model.Config.ContextLength;
        return cache is null && Decode(model, contextLength, prompt, maxNewTokens, options, generator, stopToken) is { } tokens
            ? tokens
            : Generate(model, contextLength, prompt, maxNewTokens, options, generator, stopToken, cache);
    }

    // Past this many positions a rotary model's buffers would be sized for a request rather than for use: general path.
    const int MaxDecoderPositions = 1 << 16;

    // The general loop below for one row on GptDecoder, or null where the decoder does not apply (the general path
    // then also reports bad prompts: empty, too long, ids out of range).
    static Tensor? Decode(Gpt model, int contextLength, Tensor prompt, int maxNewTokens, SamplingOptions options, Generator? generator, int? stopToken)
    {
        if (prompt.Rank != 2 || prompt.Size(0) != 1 || prompt.Size(1) == 0 || prompt.Device != Device.Cpu) return null;
        var ids = prompt.To(DType.Int64).ToArray<long>();
        int vocab = model.Config.VocabSize;
        if (ids.Length > contextLength || ids.Any(id => id < 0 || id >= vocab)) return null;
        long positions = Math.Min(contextLength, ids.Length + Math.Max(0L, maxNewTokens - 1L));
        if (positions > MaxDecoderPositions) return null;
        model.Eval();
        if (GptDecoder.TryCreate(model, (int)positions) is not { } decoder) return null;
        if (maxNewTokens <= 0) return Tensor.FromArray(ids, [1, ids.Length]);
        using var _ = Autograd.Autograd.NoGrad();
        var tokens = new List<long>(ids.Length + maxNewTokens);
        tokens.AddRange(ids);
        ReadOnlySpan<float> logits = default;
        foreach (long id in ids) logits = decoder.Step(id);
        for (int step = 0; step < maxNewTokens; step++)
        {
            long next = options.Greedy || options.Temperature <= 0 ? ArgMax(logits)
                : NextToken(Tensor.FromSpan(logits, [1, vocab]), options, generator).ToArray<long>()[0];
            tokens.Add(next);
            if (next == stopToken || step == maxNewTokens - 1 || decoder.Length + 1 > contextLength) break;
            logits = decoder.Step(next);
        }
        return Tensor.FromArray(tokens.ToArray(), [1, tokens.Count]);
    }

    // As ArgMax on the CPU: the first largest value, and the first zero when zero is the largest (-0 ties with +0).
    static long ArgMax(ReadOnlySpan<float> row)
    {
        int k = System.Numerics.Tensors.TensorPrimitives.IndexOfMax(row);
        return row[k] == 0 ? FirstZero(row) : k;
    }

    static int FirstZero(ReadOnlySpan<float> row)
    {
        for (int j = 0; j < row.Length; j++) if (row[j] == 0) return j;
        return -1;
    }

    /// <summary>
    /// As <see cref="Generate(Gpt, Tensor, int, SamplingOptions, Generator?, int?, KvCache?)"/> for any model that decodes
    /// with a cache (<see cref="MorGpt"/>, ...); generation stops before the cache would exceed <paramref name="contextLength"/>.
    /// </summary>
    public static Tensor Generate<TModel>(TModel model, int contextLength, Tensor prompt, int maxNewTokens, SamplingOptions options, Generator? generator = null, int? stopToken = null, KvCache? cache = null)
        where TModel : Module, IKvCacheModel
    {
        model.Eval();
        using var _ = Autograd.Autograd.NoGrad();
        cache ??= model.CreateCache();
        int b = prompt.Size(0);
        var tokens = prompt.To(DType.Int64);
        var logits = model.Forward(tokens, cache);
        var done = new bool[b];
        for (int step = 0; step < maxNewTokens; step++)
        {
            var next = NextToken(logits.Select(1, -1), options, generator);
            var ids = next.ToArray<long>();
            for (int i = 0; i < b; i++)
            {
                if (done[i] && stopToken is int stop) ids[i] = stop;
                if (stopToken is int s && ids[i] == s) done[i] = true;
            }
            var column = Tensor.FromArray(ids, [b, 1]);
            tokens = Tensor.Concat([tokens, column], 1);
            if (done.All(d => d) || step == maxNewTokens - 1) break;
            if (cache.Length + 1 > contextLength) break;
            logits = model.Forward(column, cache);
        }
        return tokens;
    }

    /// <summary>Picks one token per row of logits [B, V].</summary>
    public static Tensor NextToken(Tensor logits, SamplingOptions options, Generator? generator = null)
    {
        if (options.Greedy || options.Temperature <= 0) return logits.ArgMax(-1);
        var probs = (logits.To(DType.Float64) / options.Temperature).Softmax(-1).ToArray<double>();
        int b = logits.Size(0), v = logits.Size(1);
        var uniforms = Tensor.Rand([b], dtype: DType.Float64, generator: generator).ToArray<double>();
        var result = new long[b];
        for (int i = 0; i < b; i++)
        {
            var row = probs.AsSpan(i * v, v).ToArray();
            var order = Enumerable.Range(0, v).OrderByDescending(j => row[j]).ToArray();
            // Keep the k most likely tokens, then the smallest prefix whose mass reaches top-p (Holtzman et al. 2020).
            int keep = options.TopK > 0 ? Math.Min(options.TopK, v) : v;
            double mass = 0;
            int nucleus = 0;
            while (nucleus < keep)
            {
                mass += row[order[nucleus++]];
                if (mass >= options.TopP) break;
            }
            double total = 0;
            for (int j = 0; j < nucleus; j++) total += row[order[j]];
            double u = uniforms[i] * total, acc = 0;
            result[i] = order[nucleus - 1];
            for (int j = 0; j < nucleus; j++)
            {
                acc += row[order[j]];
                if (u < acc) { result[i] = order[j]; break; }
            }
        }
        return Tensor.FromArray(result, [b]);
    }
}
