namespace Engine.Peft.Prompt;

/// <summary>
/// Context-aware prompt tuning (Blau et al. 2024, "Context-aware Prompt Tuning: Advancing In-Context Learning with
/// Adversarial Methods", section 3): the prompt is the token embeddings of in-context examples
/// (<see cref="CptTokenIds"/>, frozen) plus a trainable delta that starts at zero. Each prompt token has a type
/// (<see cref="CptTokensTypeMask"/>, t mod 4: 1 input template, 2 input, 3 output template, 0 label); only types 1–3
/// train, and before every forward each delta row is projected onto an ε-ball (ε = <see cref="OptProjectionFormatEpsilon"/>
/// for templates, <see cref="OptProjectionEpsilon"/> for inputs, times √(d / 2048); section 3.3). CPT's loss
/// (<see cref="Cpt.ForwardWithLoss"/>) also counts the labels inside the prompt, optionally decayed for earlier
/// examples (section 3.4). PEFT's <c>CPTConfig</c> (peft/tuners/cpt/config.py); the file holds
/// <c>prompt_embeddings</c> = embeddings + delta [n, d].
/// <code>var peft = Peft.Apply(gpt, new CptConfig { CptTokenIds = ids, CptTokensTypeMask = types });</code>
/// </summary>
[PeftMethod("CPT", ModelPart = typeof(Cpt), ZooLearningRate = 1e-2)]
public sealed record CptConfig : PeftConfig
{
    /// <summary>Token ids of the in-context examples that form the prompt; null means [0], as PEFT.</summary>
    public IReadOnlyList<long>? CptTokenIds { get; init; }

    /// <summary>PEFT's per-token mask (validated for its length, otherwise unused by PEFT too); null means ones.</summary>
    public IReadOnlyList<int>? CptMask { get; init; }

    /// <summary>Type of each prompt token (t mod 4: 1 input template, 2 input, 3 output template, 0 label); null means ones.</summary>
    public IReadOnlyList<int>? CptTokensTypeMask { get; init; }

    /// <summary>"none", or "decay": the loss of the k-th last example's labels is weighted by <see cref="OptLossDecayFactor"/>^k.</summary>
    public string OptWeightedLossType { get; init; } = "none";

    /// <summary>The decay factor of "decay" weighting.</summary>
    public double OptLossDecayFactor { get; init; } = 1.0;

    /// <summary>ε of the input tokens (type 2), before the √(d / 2048) scaling.</summary>
    public double OptProjectionEpsilon { get; init; } = 0.1;

    /// <summary>ε of the template tokens (types 1 and 3), before the √(d / 2048) scaling.</summary>
    public double OptProjectionFormatEpsilon { get; init; } = 0.1;

    /// <summary>The tokenizer PEFT used, as recorded.</summary>
    public string? TokenizerNameOrPath { get; init; }

    /// <summary>PEFT writes len(cpt_token_ids) here (it overwrites any other value); informational.</summary>
    public int? NumVirtualTokens { get; init; }

    /// <summary>Width of the prompt (PEFT fills it from the model); informational.</summary>
    public int? TokenDim { get; init; }

    /// <summary>The prompt's token ids (PEFT's default [0]).</summary>
    public IReadOnlyList<long> TokenIds => CptTokenIds ?? [0];

    /// <summary>The prompt's token types (PEFT's default: all 1).</summary>
    public IReadOnlyList<int> TokenTypes => CptTokensTypeMask ?? Enumerable.Repeat(1, TokenIds.Count).ToArray();

    /// <inheritdoc/>
    public override IEnumerable<PlannedTensor> PlanModelPart(AdapterModelPartContext context) => Cpt.Plan(context);

    /// <inheritdoc/>
    public override void Validate()
    {
        int n = TokenIds.Count;
        if (n < 1) throw new ArgumentException("CptConfig: cpt_token_ids must hold at least one token");
        if ((CptMask?.Count ?? n) != n || TokenTypes.Count != n)
            throw new ArgumentException($"CptConfig: cpt_token_ids ({n}), cpt_mask ({CptMask?.Count ?? n}) and cpt_tokens_type_mask ({TokenTypes.Count}) must have the same length");
        if (TokenTypes.Any(t => t < 0)) throw new ArgumentException("CptConfig: cpt_tokens_type_mask must not be negative");
        if (OptWeightedLossType is not ("none" or "decay")) throw new ArgumentException($"CptConfig: opt_weighted_loss_type '{OptWeightedLossType}' is not \"none\" or \"decay\"");
        if (OptProjectionEpsilon <= 0 || OptProjectionFormatEpsilon <= 0)
            throw new ArgumentException($"CptConfig: opt_projection_epsilon ({OptProjectionEpsilon}) and opt_projection_format_epsilon ({OptProjectionFormatEpsilon}) must be positive");
        if (TaskType is { } task && task != "CAUSAL_LM") throw new ArgumentException($"CptConfig: CPT only supports task_type CAUSAL_LM, got {task}");
    }

    /// <summary>
    /// The zoo's CPT: a context of size tokens of id 0 (a character-level model's boundary between texts; the preset
    /// knows no tokenizer), typed as examples of four tokens: input template, input, output template, label (types 1,
    /// 2, 3, 4, 5, ...), with PEFT's ε.
    /// </summary>
    public static CptConfig Preset(AdapterPreset p) => new()
    {
        CptTokenIds = new long[p.Size],
        CptTokensTypeMask = Enumerable.Range(0, p.Size).Select(i => i + 1).ToArray(),
        Seed = p.Seed,
    };
}
