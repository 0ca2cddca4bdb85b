namespace Engine.Peft.Prompt;

/// <summary>
/// Prefix tuning (Li and Liang 2021, section 4): trainable keys and values for <see cref="NumVirtualTokens"/> virtual
/// positions in every attention layer, optionally produced by a reparameterising MLP during training
/// (<see cref="PrefixProjection"/>, section 4.3). They start the KV cache, so every real token attends to them and
/// positions start after them (as Hugging Face GPT-2 with <c>past_key_values</c>). Works on any
/// <see cref="IPrefixableModel"/>. PEFT's field names; the file holds <c>prompt_embeddings</c>
/// [n, layers * 2 * kv width] (PEFT's layout: per layer the keys, then the values), after the MLP when there is one.
/// <code>var peft = Peft.Apply(gpt, new PrefixTuningConfig { NumVirtualTokens = 10 }); var logits = peft.Forward(ids);</code>
/// </summary>
[PeftMethod("PREFIX_TUNING", ModelPart = typeof(PrefixTuning), CliName = "prefix", ZooLearningRate = 1e-1)]
public sealed record PrefixTuningConfig : PeftConfig
{
    /// <summary>Number n of virtual tokens.</summary>
    public int NumVirtualTokens { get; init; } = 10;

    /// <summary>Produce the prefixes with an MLP (embedding → Linear → tanh → Linear) while training.</summary>
    public bool PrefixProjection { get; init; }

    /// <summary>Hidden width of the reparameterising MLP; null means the model width.</summary>
    public int? EncoderHiddenSize { get; init; }

    /// <summary>PEFT's count of transformer stacks that take the prefixes (1 for decoder-only and encoder-only models).</summary>
    public int NumTransformerSubmodules { get; init; } = 1;

    /// <summary>"zero" starts the prefixes at zero; null draws them from N(0, 1) (PEFT's <c>init_weights</c>).</summary>
    public string? InitWeights { get; init; }

    /// <inheritdoc/>
    public override IEnumerable<PlannedTensor> PlanModelPart(AdapterModelPartContext context) => PrefixTuning.Plan(context);

    /// <inheritdoc/>
    public override void Validate()
    {
        if (NumVirtualTokens < 1) throw new ArgumentException($"PrefixTuningConfig: num_virtual_tokens must be positive, got {NumVirtualTokens}");
        if (EncoderHiddenSize is < 1) throw new ArgumentException($"PrefixTuningConfig: encoder_hidden_size must be positive, got {EncoderHiddenSize}");
        if (InitWeights is not (null or "zero")) throw new ArgumentException($"PrefixTuningConfig: init_weights '{InitWeights}' is not null or \"zero\"");
    }

    /// <summary>The zoo's prefix tuning: size virtual positions, no MLP.</summary>
    public static PrefixTuningConfig Preset(AdapterPreset p) => new() { NumVirtualTokens = p.Size, Seed = p.Seed };
}
