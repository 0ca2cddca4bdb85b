using System.Text.Json.Serialization;

namespace Engine.Peft.Prompt;

/// <summary>
/// The fields of PEFT's prompt-learning configs that describe the virtual tokens and how their embeddings start,
/// shared by prompt tuning, multitask prompt tuning and DePT (each validates the initialisations it allows).
/// </summary>
public abstract record VirtualTokenConfig : PeftConfig
{
    /// <summary>Number n of virtual tokens.</summary>
    public int NumVirtualTokens { get; init; } = 8;

    /// <summary>Width of the virtual tokens (PEFT fills it from the model; informational here).</summary>
    public int? TokenDim { get; init; }

    /// <summary>PEFT's count of transformer stacks that take the prompt (1 for decoder-only and encoder-only models).</summary>
    public int NumTransformerSubmodules { get; init; } = 1;

    /// <summary>How the prompt starts: "RANDOM" (N(0, 1)), "SAMPLE_VOCAB", "TEXT" (the embeddings of <see cref="InitTokenIds"/>), or a method's own.</summary>
    public string PromptTuningInit { get; init; } = "RANDOM";

    /// <summary>The text of TEXT initialisation, as PEFT records it (the engine takes token ids: <see cref="InitTokenIds"/>).</summary>
    public string? PromptTuningInitText { get; init; }

    /// <summary>The tokenizer PEFT used for the text, as recorded.</summary>
    public string? TokenizerNameOrPath { get; init; }

    /// <summary>Token ids whose embeddings start the prompt for TEXT initialisation, repeated or cut to n. The engine's field.</summary>
    [JsonIgnore]
    public IReadOnlyList<long>? InitTokenIds { get; init; }
}
