namespace Engine.Peft.Prompt;

/// <summary>
/// P-tuning (Liu et al. 2021, "GPT Understands, Too", section 3): <see cref="NumVirtualTokens"/> virtual token
/// embeddings produced by a trainable prompt encoder from a trainable table, placed before the input's token
/// embeddings. PEFT's <c>PromptEncoderConfig</c> (peft/tuners/p_tuning/config.py, model.py): the encoder is an MLP
/// Linear(d, h)–ReLU–Linear(h, h)–ReLU–Linear(h, d) (always three layers; <see cref="EncoderNumLayers"/> is ignored,
/// as PEFT) or a bidirectional <see cref="Lstm"/> (d → h, <see cref="EncoderNumLayers"/> layers,
/// <see cref="EncoderDropout"/> between them) followed by Linear(2h, 2h)–ReLU–Linear(2h, d). The file holds only the
/// encoder's output, <c>prompt_embeddings</c> [n, d], which a loaded adapter uses directly (no encoder).
/// <code>var peft = Peft.Apply(gpt, new PTuningConfig { NumVirtualTokens = 8, EncoderReparameterizationType = "LSTM" });</code>
/// </summary>
[PeftMethod("P_TUNING", ModelPart = typeof(PTuning), Variants = ["p_tuning_lstm: encoder_reparameterization_type=LSTM"], ZooLearningRate = 1e-2)]
public sealed record PTuningConfig : PeftConfig
{
    /// <summary>Number n of virtual tokens.</summary>
    public int NumVirtualTokens { get; init; } = 8;

    /// <summary>Width of the virtual tokens (PEFT fills it from the model; informational here).</summary>
    public int? TokenDim { get; init; }

    /// <summary>PEFT's count of transformer stacks that take the prompt (1 for decoder-only and encoder-only models).</summary>
    public int NumTransformerSubmodules { get; init; } = 1;

    /// <summary>"MLP" (PEFT's default, recommended) or "LSTM".</summary>
    public string EncoderReparameterizationType { get; init; } = "MLP";

    /// <summary>Hidden width h of the encoder; null means the model width (PEFT's <c>_prepare_prompt_learning_config</c>).</summary>
    public int? EncoderHiddenSize { get; init; }

    /// <summary>Layers of the LSTM encoder (the MLP always has three Linear layers).</summary>
    public int EncoderNumLayers { get; init; } = 2;

    /// <summary>Dropout between the LSTM encoder's layers while training.</summary>
    public double EncoderDropout { get; init; }

    /// <inheritdoc/>
    public override IEnumerable<PlannedTensor> PlanModelPart(AdapterModelPartContext context) => PTuning.Plan(context);

    /// <inheritdoc/>
    public override void Validate()
    {
        if (NumVirtualTokens < 1) throw new ArgumentException($"PTuningConfig: num_virtual_tokens must be positive, got {NumVirtualTokens}");
        if (EncoderReparameterizationType is not ("MLP" or "LSTM"))
            throw new ArgumentException($"PTuningConfig: encoder_reparameterization_type '{EncoderReparameterizationType}' is not MLP or LSTM");
        if (EncoderHiddenSize is < 1) throw new ArgumentException($"PTuningConfig: encoder_hidden_size must be positive, got {EncoderHiddenSize}");
        if (EncoderNumLayers < 1) throw new ArgumentException($"PTuningConfig: encoder_num_layers must be positive, got {EncoderNumLayers}");
        if (EncoderDropout is < 0 or >= 1) throw new ArgumentException($"PTuningConfig: encoder_dropout must be in [0, 1), got {EncoderDropout}");
    }

    /// <summary>The zoo's P-tuning: size virtual tokens from the MLP encoder.</summary>
    public static PTuningConfig Preset(AdapterPreset p) => new() { NumVirtualTokens = p.Size, Seed = p.Seed };
}
