using System.Text.Json.Serialization;

namespace Engine.Peft.Prompt;

/// <summary>
/// Prompt tuning (Lester et al. 2021, section 2): <see cref="NumVirtualTokens"/> trainable embeddings P [n, width]
/// placed before the input's token embeddings; only P trains. PEFT's field names and initialisations: RANDOM is
/// N(0, 1) (an nn.Embedding's default), SAMPLE_VOCAB copies rows of the vocabulary drawn uniformly, TEXT the
/// embeddings of given tokens (section 3.2). Works on any <see cref="IPromptableModel"/>. File key
/// <c>prompt_embeddings</c> [n, width].
/// <code>var peft = Peft.Apply(gpt, new PromptTuningConfig { NumVirtualTokens = 8 }); var logits = peft.Forward(ids);</code>
/// </summary>
[PeftMethod("PROMPT_TUNING", ModelPart = typeof(PromptTuning), CliName = "prompt", ZooLearningRate = 3e-2)]
public sealed record PromptTuningConfig : VirtualTokenConfig
{
    /// <inheritdoc/>
    public override IEnumerable<PlannedTensor> PlanModelPart(AdapterModelPartContext context) => PromptTuning.Plan(context);

    /// <inheritdoc/>
    public override void Validate()
    {
        if (NumVirtualTokens < 1) throw new ArgumentException($"PromptTuningConfig: num_virtual_tokens must be positive, got {NumVirtualTokens}");
        if (PromptTuningInit is not ("RANDOM" or "SAMPLE_VOCAB" or "TEXT"))
            throw new ArgumentException($"PromptTuningConfig: prompt_tuning_init '{PromptTuningInit}' is not RANDOM, SAMPLE_VOCAB or TEXT");
    }

    /// <summary>The zoo's prompt tuning: size virtual tokens drawn from the vocabulary.</summary>
    public static PromptTuningConfig Preset(AdapterPreset p) => new() { NumVirtualTokens = p.Size, PromptTuningInit = "SAMPLE_VOCAB", Seed = p.Seed };
}
