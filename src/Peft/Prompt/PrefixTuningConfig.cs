using System.Text.Json.Nodes;

namespace Engine.Peft.Prompt;

/// <summary>
/// Prefix tuning (Li and Liang 2021, section 4): trainable keys and values for <see cref="NumVirtualTokens"/> virtual
/// positions in every attention layer, optionally produced by a reparameterising MLP during training
/// (<see cref="PrefixProjection"/>, section 4.3). They start the KV cache, so every real token attends to them and
/// positions start after them (as Hugging Face GPT-2 with <c>past_key_values</c>). PEFT's field names; the file holds
/// <c>prompt_embeddings</c> [n, layers * 2 * width] (PEFT's layout: per layer the keys, then the values).
/// <code>var peft = Peft.Apply(gpt, new PrefixTuningConfig { NumVirtualTokens = 10 }); var logits = peft.Forward(ids);</code>
/// </summary>
public sealed record PrefixTuningConfig : PeftConfig
{
    /// <inheritdoc/>
    public override string PeftType => "PREFIX_TUNING";

    /// <summary>Number n of virtual tokens.</summary>
    public int NumVirtualTokens { get; init; } = 10;

    /// <summary>Produce the prefixes with an MLP (embedding → Linear → tanh → Linear) while training.</summary>
    public bool PrefixProjection { get; init; }

    /// <summary>Hidden width of the reparameterising MLP.</summary>
    public int EncoderHiddenSize { get; init; } = 64;

    /// <summary>Seed of the initialisation; null uses the global generator.</summary>
    public ulong? Seed { get; init; }

    /// <inheritdoc/>
    public override bool TargetsLayers => false;

    /// <inheritdoc/>
    public override AdapterLayer CreateLayer(Linear baseLayer) =>
        throw new NotSupportedException("PrefixTuningConfig: prefix tuning adapts the attention inputs, not layers");

    static Gpt GptOf(PeftModel model) => model.Model as Gpt
        ?? throw new NotSupportedException($"PrefixTuningConfig: prefix tuning needs a Gpt (its KV cache), got {model.Model.GetType().Name}");

    /// <summary>Creates the prefix encoder for the model's layers, heads and width.</summary>
    public override void OnAdapterAdded(PeftModel model, string adapterName)
    {
        var c = GptOf(model).Config;
        int kvWidth = (c.KvHeads ?? c.Heads) * (c.DModel / c.Heads);
        // A loaded adapter holds the final prefixes, which PEFT also uses directly at inference.
        bool projection = PrefixProjection && !InferenceMode;
        var generator = Seed is { } seed ? new Generator(seed) : null;
        model.PromptModules.Add(adapterName, new PrefixEncoder(NumVirtualTokens, c.Layers, kvWidth, c.DModel, projection, EncoderHiddenSize, generator));
    }

    /// <summary>The encoder of adapter <paramref name="adapterName"/>.</summary>
    public static PrefixEncoder Encoder(PeftModel model, string adapterName) => (PrefixEncoder)model.PromptModules[adapterName];

    /// <summary>
    /// A KV cache for a batch of <paramref name="batch"/> rows that starts with the virtual keys and values of every
    /// layer ([batch, kv heads, n, head dim] each); pass it to <c>Gpt.Forward(ids, cache)</c> or <c>Sampling.Generate</c>.
    /// </summary>
    public static KvCache CreateCache(PeftModel model, string adapterName, int batch)
    {
        var c = GptOf(model).Config;
        int kvHeads = c.KvHeads ?? c.Heads, headDim = c.DModel / c.Heads, n = ((PrefixTuningConfig)model.PeftConfigs[adapterName]).NumVirtualTokens;
        var prefixes = Encoder(model, adapterName).Forward().Reshape(n, c.Layers * 2, kvHeads, headDim);
        var cache = new KvCache(c.Layers);
        for (int layer = 0; layer < c.Layers; layer++)
        {
            // [n, H, D] → [B, H, n, D]
            Tensor Heads(int index) => prefixes.Select(1, index).Transpose(0, 1).Unsqueeze(0).Expand(batch, kvHeads, n, headDim);
            // Prefix tuning adapts attention layers, whose decoding state is a LayerKvCache.
            ((LayerKvCache)cache[layer]).Append(Heads(2 * layer), Heads(2 * layer + 1));
        }
        return cache;
    }

    /// <inheritdoc/>
    public override Tensor? Forward(PeftModel model, string adapterName, Tensor input) =>
        GptOf(model).Forward(input, CreateCache(model, adapterName, input.Size(0)));

    /// <inheritdoc/>
    public override IEnumerable<(string Key, Tensor Tensor)> SharedTensors(PeftModel model, string adapterName)
    {
        var encoder = Encoder(model, adapterName);
        // PEFT writes the final prefixes (after the MLP when there is one) under one key without prefix.
        yield return ("prompt_embeddings", encoder.Projection ? encoder.Forward().Detach() : encoder.Embedding);
    }

    /// <inheritdoc/>
    public override JsonObject ToJson()
    {
        var json = base.ToJson();
        json["num_virtual_tokens"] = NumVirtualTokens;
        json["prefix_projection"] = PrefixProjection;
        json["encoder_hidden_size"] = EncoderHiddenSize;
        json["num_transformer_submodules"] = 1;
        return json;
    }

    /// <summary>Reads PEFT's <c>adapter_config.json</c> of a prefix-tuning adapter.</summary>
    public static new PrefixTuningConfig FromJson(JsonObject json)
    {
        var config = new PrefixTuningConfig
        {
            NumVirtualTokens = json["num_virtual_tokens"]?.GetValue<int>() ?? 10,
            // The file holds the final prefixes; PEFT does not save the MLP, so a loaded adapter is a plain table.
            PrefixProjection = false,
            EncoderHiddenSize = json["encoder_hidden_size"]?.GetValue<int>() ?? 64,
        };
        return ReadCommon(config, json);
    }
}
