using System.Text.Json.Serialization;

namespace Engine.Peft.Prompt;

/// <summary>
/// DePT, decomposed prompt tuning (Shi and Lipani, ICLR 2024, arXiv 2309.05173; ZhengxiangShi/DePT
/// <c>peft/tuners/prompt_tuning_lora.py</c>, <c>peft/peft_model.py</c>, <c>train.py</c>; spec adapters-other.md
/// section 9): m virtual tokens P [m, d] as prompt tuning's, plus a position-wise low-rank update of the input token
/// embeddings E′ = E + c·(A·B), A [max_length, r] (one row per input position), B [r, d], c = lora_alpha/√r; A starts
/// Kaiming-uniform (a = √5) and B at zero, so E′ == E. The reference's field names and <c>peft_type</c>
/// "PROMPT_TUNING_LORA" (not in PEFT: <c>InPeft = false</c>). The update is applied at the model's position
/// embedding (<see cref="DeptPositionLayer"/>, target_modules defaults to it), which adds the same vector to the same
/// input: it then holds in cached decoding too. Positions from max_length on (beyond the reference's padded length)
/// get no update: the engine's choice for generation past s. Not mergeable (P is an input; A·B a position table).
/// Two learning rates (the reference's train.py): P at the job's lr, A and B at lr · <see cref="LoraEmbeddingLrRatio"/>.
/// <code>var peft = Peft.Apply(gpt, new DeptConfig { NumVirtualTokens = 8, R = 4, MaxLength = 64 });</code>
/// </summary>
[PeftMethod("PROMPT_TUNING_LORA", Layer = typeof(DeptPositionLayer), ModelPart = typeof(Dept), Wraps = [typeof(Embedding)], Mergeable = false,
    StartsAtBase = false, InPeft = false, CliName = "dept", ZooLearningRate = 3e-2)]
public sealed record DeptConfig : VirtualTokenConfig
{
    /// <summary>The default target_modules: the usual names of learned position embeddings (GPT-2's <c>wpe</c>, the engine GPT's <c>pos</c>, BERT's <c>position_embeddings</c>).</summary>
    public static readonly ModuleSelector PositionEmbeddings = ["wpe", "pos", "position_embeddings"];

    /// <summary>A configuration on the model's position embedding.</summary>
    public DeptConfig() => TargetModules = PositionEmbeddings;

    /// <summary>Rank r of the position-wise update A·B.</summary>
    public int R { get; init; } = 8;

    /// <summary>α of the scale c = lora_alpha/√r.</summary>
    public double LoraAlpha { get; init; } = 8;

    /// <summary>The reference's bias field; only "none".</summary>
    public string Bias { get; init; } = "none";

    /// <summary>True: A Kaiming-uniform and B zero (E′ == E); false: A and B both zero (the reference's tensors before its init).</summary>
    public bool InitLoraWeights { get; init; } = true;

    /// <summary>The base model's width as the reference records it (informational).</summary>
    public int? HiddenSize { get; init; }

    /// <summary>s: the number of input positions that have a row of A (the reference pads every input to it).</summary>
    public int MaxLength { get; init; } = 256;

    /// <summary>True: files hold A and B (the reference's <c>save_lora_embeddings</c>).</summary>
    public bool SaveLoraEmbeddings { get; init; } = true;

    /// <summary>The reference's load flag, recorded (the engine loads what the file holds).</summary>
    public bool LoadLoraEmbeddings { get; init; } = true;

    /// <summary>The reference's load flag for B, recorded.</summary>
    public bool LoadLoraEmbeddingB { get; init; } = true;

    /// <summary>
    /// A and B train at lr · ratio while P trains at lr (the reference's train.py takes an absolute
    /// <c>lora_embedding_lr</c>; the engine's CLI has one --lr, so the config holds the ratio). The engine's field.
    /// </summary>
    public double LoraEmbeddingLrRatio { get; init; } = 1;

    /// <summary>c = lora_alpha/√r.</summary>
    [JsonIgnore]
    public double Scaling => LoraAlpha / Math.Sqrt(R);

    /// <inheritdoc/>
    public override IEnumerable<PlannedTensor> PlanModelPart(AdapterModelPartContext context) => Dept.Plan(context);

    /// <inheritdoc/>
    public override void Validate()
    {
        if (NumVirtualTokens < 1) throw new ArgumentException($"DeptConfig: num_virtual_tokens must be positive, got {NumVirtualTokens}");
        if (PromptTuningInit is not ("RANDOM" or "SAMPLE_VOCAB" or "TEXT"))
            throw new ArgumentException($"DeptConfig: prompt_tuning_init '{PromptTuningInit}' is not RANDOM, TEXT or SAMPLE_VOCAB");
        if (R < 1) throw new ArgumentException($"DeptConfig: r must be positive, got {R}");
        if (MaxLength < 1) throw new ArgumentException($"DeptConfig: max_length must be positive, got {MaxLength}");
        if (Bias != "none") throw new ArgumentException($"DeptConfig: bias '{Bias}' is not supported; only 'none'");
        if (!(LoraEmbeddingLrRatio > 0)) throw new ArgumentException($"DeptConfig: lora_embedding_lr_ratio must be positive, got {LoraEmbeddingLrRatio}");
        if (TargetModules is null) throw new ArgumentException("DeptConfig: target_modules is required (the position embedding that carries the update)");
    }

    /// <summary>The zoo's DePT: size virtual tokens drawn from the vocabulary, rank size, a row of A per position of the names windows (32).</summary>
    public static DeptConfig Preset(AdapterPreset p) => new() { NumVirtualTokens = p.Size, R = p.Size, MaxLength = 32, PromptTuningInit = "SAMPLE_VOCAB", Seed = p.Seed };
}
