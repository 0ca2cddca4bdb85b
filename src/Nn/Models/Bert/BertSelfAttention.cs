namespace Engine.Nn;

/// <summary>
/// BERT's multi-head self-attention with separate <c>query</c>, <c>key</c> and <c>value</c> projections (Hugging Face
/// <c>BertSelfAttention</c>), so adapters can target each of them by PEFT's usual names. Not causal: every position
/// sees every key that is not padding, and any prefix keys (prefix tuning) before the tokens' own.
/// </summary>
public sealed class BertSelfAttention : Module
{
    public BertSelfAttention(BertConfig config, Generator? generator = null)
    {
        Config = config;
        RegisterModule("query", new Linear(config.Hidden, config.Hidden, bias: true, generator));
        RegisterModule("key", new Linear(config.Hidden, config.Hidden, bias: true, generator));
        RegisterModule("value", new Linear(config.Hidden, config.Hidden, bias: true, generator));
        RegisterModule("dropout", new Dropout(config.AttentionDropout, generator));
    }

    public BertConfig Config { get; }

    public override Tensor Forward(Tensor x) => Forward(x, null, null);

    /// <summary>
    /// x [B, T, H] to the heads' concatenated outputs [B, T, H]. <paramref name="keyPaddingMask"/> [B, n + T] is true
    /// at keys no query may see; <paramref name="prefix"/> holds keys and values [B, heads, n, head dim] placed first.
    /// </summary>
    public Tensor Forward(Tensor x, Tensor? keyPaddingMask, (Tensor Keys, Tensor Values)? prefix)
    {
        int b = x.Size(0), t = x.Size(1), h = Config.Heads, d = Config.HeadDim;
        Tensor Heads(string projection) => Child(projection).Forward(x).Reshape(b, t, h, d).Transpose(1, 2);
        Tensor q = Heads("query"), k = Heads("key"), v = Heads("value");
        if (prefix is { } p)
        {
            k = Tensor.Concat([p.Keys, k], 2);
            v = Tensor.Concat([p.Values, v], 2);
        }
        return ScaledDotProductAttention.Compute(q, k, v, causal: false, past: 0, keyPaddingMask, Child("dropout"), nameof(Bert));
    }
}
