namespace Engine.Peft.Prompt;

/// <summary>
/// An attention layer with adaption prompts (PEFT's <c>AdaptedAttentionGPT</c>, adaption_prompt/layer.py): the wrapped
/// <see cref="MultiHeadAttention"/> runs as before (with its cache when decoding) and each active adapter adds
/// g · softmax(q K_pᵀ / √d_h) V_p, where q are the queries of the new positions (the wrapped layer's <c>qkv</c>, rotary
/// applied when the model uses it, as PEFT's LLaMA path), K_p and V_p the key and value parts of qkv(P) (bias included;
/// shared across a group under grouped-query attention) and no output projection, as PEFT's GPT-2 path. The prompts
/// are not positions of the sequence, so decoding with a cache gives what the full forward gives.
/// </summary>
public sealed class AdaptionPromptLayer : AdapterLayer, ITokenMixer
{
    /// <summary>Wraps <paramref name="attention"/>.</summary>
    public AdaptionPromptLayer(MultiHeadAttention attention) : base(attention) { }

    MultiHeadAttention Attention => (MultiHeadAttention)BaseModule;

    // The registered qkv (an adapter's wrapper when another method adapts it, as PEFT calls model.c_attn).
    Module Qkv => Attention.Children().First(c => c.Name == "qkv").Module;

    /// <summary>The prompt P [1, adapter_len, width] of adapter <paramref name="name"/>.</summary>
    public Tensor Prompt(string name) => Parameter("adaption_prompt", name);

    /// <summary>The gate g [1] of adapter <paramref name="name"/>.</summary>
    public Tensor Gate(string name) => Parameter("adaption_gate", name);

    /// <inheritdoc/>
    public override IEnumerable<PlannedTensor> PlanAdapter(AdapterContext context) =>
        [Planned("adaption_prompt", null, 1, context.ConfigAs<AdaptionPromptConfig>().AdapterLen!.Value, Attention.Options.DModel), Planned("adaption_gate", null, 1)];

    /// <inheritdoc/>
    protected override void CreateAdapter(AdapterContext context)
    {
        var dtype = Attention.Proj.Weight.DType;
        var device = Attention.Proj.Weight.Device;
        int n = context.ConfigAs<AdaptionPromptConfig>().AdapterLen!.Value;
        // PEFT: P ~ N(0, 1) (normal_), g = 0 (the model starts at the base).
        AddParameter("adaption_prompt", context.Name, Tensor.Randn([1, n, Attention.Options.DModel], 0, 1, dtype, context.Generator).To(device));
        AddParameter("adaption_gate", context.Name, Tensor.Zeros([1], dtype, device));
    }

    /// <inheritdoc/>
    protected override Tensor ForwardAdapters(Tensor input, IReadOnlyList<string> adapters) => WithPrompts(Attention.Forward(input), input, adapters, 0);

    Tensor ITokenMixer.Forward(Tensor x, Tensor? keyPaddingMask, IMixerState? state)
    {
        int past = state?.Length ?? 0;
        var output = ((ITokenMixer)Attention).Forward(x, keyPaddingMask, state);
        var adapters = Disabled ? [] : ActiveAdapters.ToList();
        return adapters.Count == 0 ? output : WithPrompts(output, x, adapters, past);
    }

    IMixerState ITokenMixer.CreateState() => ((ITokenMixer)Attention).CreateState();

    // out + Σ_a g_a softmax(q K_a^T / sqrt(d)) V_a, with q the queries of x at positions past.. (per head).
    Tensor WithPrompts(Tensor output, Tensor x, IReadOnlyList<string> adapters, int past)
    {
        var o = Attention.Options;
        int b = x.Size(0), t = x.Size(1), h = o.Heads, kv = Attention.KvHeads, d = Attention.HeadDim;
        var q = Qkv.Forward(x).Narrow(-1, 0, h * d).Reshape(b, t, h, d).Transpose(1, 2);
        if (o.Rotary) q = RotaryEmbedding.Apply(q, past);
        foreach (var name in adapters)
        {
            var prompt = Prompt(name);
            int n = prompt.Size(1);
            var projected = Qkv.Forward(prompt);
            Tensor Heads(int offset)
            {
                var m = projected.Narrow(-1, offset, kv * d).Reshape(1, n, kv, d).Transpose(1, 2);
                if (kv != h) m = m.Unsqueeze(2).Expand(1, kv, h / kv, n, d).Reshape(1, h, n, d);
                return m.Expand(b, h, n, d);
            }
            var (keys, values) = (Heads(h * d), Heads((h + kv) * d));
            var weights = (q.MatMul(keys.Transpose(-1, -2)) * (1.0 / Math.Sqrt(d))).Softmax(-1) * Gate(name);
            output = output + weights.MatMul(values).Transpose(1, 2).Reshape(b, t, h * d);
        }
        return output;
    }
}
