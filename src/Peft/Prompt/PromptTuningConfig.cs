using System.Text.Json.Nodes;

namespace Engine.Peft.Prompt;

/// <summary>
/// Prompt tuning (Lester et al. 2021, section 2): <see cref="NumVirtualTokens"/> trainable embeddings P [n, width]
/// placed before the input's token embeddings; only P trains. Initialised at random or from the embeddings of given
/// tokens (section 3.2, "class label" / text initialisation). The virtual tokens take positions 0..n-1 and the input
/// follows; since attention is causal they never see the input, so the model runs them once into the KV cache and
/// the input (and generation) continues from there. The forward returns the logits of the real tokens only.
/// PEFT's file key <c>prompt_embeddings</c> [n, width].
/// <code>var peft = Peft.Apply(gpt, new PromptTuningConfig { NumVirtualTokens = 8 }); var logits = peft.Forward(ids);</code>
/// </summary>
public sealed record PromptTuningConfig : PeftConfig
{
    /// <inheritdoc/>
    public override string PeftType => "PROMPT_TUNING";

    /// <summary>Number n of virtual tokens.</summary>
    public int NumVirtualTokens { get; init; } = 8;

    /// <summary>"RANDOM" (N(0, 1) times the embedding table's standard deviation) or "TEXT" (the embeddings of <see cref="InitTokenIds"/>).</summary>
    public string PromptTuningInit { get; init; } = "RANDOM";

    /// <summary>Token ids whose embeddings start P for "TEXT" initialisation, repeated or cut to n (PEFT tokenises a text instead).</summary>
    public IReadOnlyList<long>? InitTokenIds { get; init; }

    /// <summary>Seed of the random initialisation; null uses the global generator.</summary>
    public ulong? Seed { get; init; }

    /// <inheritdoc/>
    public override bool TargetsLayers => false;

    /// <inheritdoc/>
    public override AdapterLayer CreateLayer(Linear baseLayer) =>
        throw new NotSupportedException("PromptTuningConfig: prompt tuning adapts the input embeddings, not layers");

    static Gpt GptOf(PeftModel model) => model.Model as Gpt
        ?? throw new NotSupportedException($"PromptTuningConfig: prompt tuning needs a Gpt, got {model.Model.GetType().Name}");

    /// <inheritdoc/>
    public override void OnAdapterAdded(PeftModel model, string adapterName)
    {
        var tok = GptOf(model).Tok.Weight;
        Tensor initial;
        if (PromptTuningInit == "TEXT")
        {
            if (InitTokenIds is not { Count: > 0 } ids) throw new ArgumentException("PromptTuningConfig: TEXT initialisation needs InitTokenIds");
            var repeated = Enumerable.Range(0, NumVirtualTokens).Select(i => ids[i % ids.Count]).ToArray();
            initial = tok.Detach().IndexSelect(0, Tensor.FromArray(repeated)).Clone();
        }
        else if (PromptTuningInit == "RANDOM")
        {
            double std = tok.Detach().Std().Item();
            initial = Tensor.Randn([NumVirtualTokens, tok.Size(1)], 0, std, tok.DType, Seed is { } s ? new Generator(s) : null);
        }
        else throw new ArgumentException($"PromptTuningConfig: prompt_tuning_init '{PromptTuningInit}' is not RANDOM or TEXT");
        model.PromptModules.Add(adapterName, new PromptEmbedding(initial));
    }

    /// <summary>The virtual token embeddings P [n, width] of adapter <paramref name="adapterName"/>.</summary>
    public static Tensor Embeddings(PeftModel model, string adapterName) => ((PromptEmbedding)model.PromptModules[adapterName]).Weight;

    /// <summary>A KV cache for <paramref name="batch"/> rows already holding the virtual tokens; continue it with <c>Gpt.Forward(ids, cache)</c> or <c>Sampling.Generate</c>.</summary>
    public static KvCache CreateCache(PeftModel model, string adapterName, int batch)
    {
        var gpt = GptOf(model);
        var p = Embeddings(model, adapterName);
        var cache = new KvCache(gpt.Config.Layers);
        gpt.ForwardEmbeddings(p.Unsqueeze(0).Expand(batch, p.Size(0), p.Size(1)), cache);
        return cache;
    }

    /// <inheritdoc/>
    public override Tensor? Forward(PeftModel model, string adapterName, Tensor input) =>
        GptOf(model).Forward(input, CreateCache(model, adapterName, input.Size(0)));

    /// <inheritdoc/>
    public override IEnumerable<(string Key, Tensor Tensor)> SharedTensors(PeftModel model, string adapterName)
    {
        yield return ("prompt_embeddings", Embeddings(model, adapterName));
    }

    /// <inheritdoc/>
    public override JsonObject ToJson()
    {
        var json = base.ToJson();
        json["num_virtual_tokens"] = NumVirtualTokens;
        json["prompt_tuning_init"] = PromptTuningInit;
        json["num_transformer_submodules"] = 1;
        return json;
    }

    /// <summary>Reads PEFT's <c>adapter_config.json</c> of a prompt-tuning adapter (a TEXT one loads as RANDOM: the file holds P).</summary>
    public static new PromptTuningConfig FromJson(JsonObject json)
    {
        var config = new PromptTuningConfig { NumVirtualTokens = json["num_virtual_tokens"]?.GetValue<int>() ?? 8 };
        return ReadCommon(config, json);
    }
}
