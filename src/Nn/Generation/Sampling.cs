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
    public static Tensor Generate(Gpt model, Tensor prompt, int maxNewTokens, SamplingOptions options, Generator? generator = null, int? stopToken = null, KvCache? cache = null) =>
        Generate(model, model.Config.Rotary ? int.MaxValue : model.Config.ContextLength, prompt, maxNewTokens, options, generator, stopToken, cache);

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
