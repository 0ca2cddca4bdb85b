namespace Engine.Peft.SharedBank;

/// <summary>
/// VB-LoRA (Li et al. 2024, "VB-LoRA: Extreme Parameter Efficient Fine-Tuning with Vector Banks"): every sub-vector
/// of every LoRA factor is a top-k admixture of the rows of one shared trainable vector bank. PEFT's field names and
/// defaults (<c>vblora/config.py</c>). With <c>save_only_topk_weights</c> files hold each sub-vector's top-k indices and
/// weights instead of its logits (<see cref="VbLoraTopK"/>); such a file loads for inference only, as in PEFT.
/// <code>var peft = Peft.Apply(gpt, new VbLoraConfig { R = 4, VectorLength = 64, TargetModules = ["qkv"] });</code>
/// </summary>
[PeftMethod("VBLORA", Layer = typeof(VbLoraLayer), ModelPart = typeof(VbLoraBank), Mergeable = true, ZooLearningRate = 1e-1)]
public sealed record VbLoraConfig : PeftConfig, IFileFormReader, IBiasConfig
{
    /// <summary>Rank r of the assembled LoRA factors.</summary>
    public int R { get; init; } = 4;

    /// <summary>Rows N of the shared vector bank.</summary>
    public int NumVectors { get; init; } = 256;

    /// <summary>Length L of each bank vector; every adapted layer's input and output widths must be multiples of it.</summary>
    public int VectorLength { get; init; } = 256;

    /// <summary>How many bank vectors each sub-vector mixes.</summary>
    public int Topk { get; init; } = 2;

    /// <summary>Files hold the top-k indices and the first k - 1 softmax weights instead of the logits (inference only).</summary>
    public bool SaveOnlyTopkWeights { get; init; }

    /// <summary>Dropout probability on the adapter's input.</summary>
    public double VbloraDropout { get; init; }

    /// <summary>True when the Hugging Face layer stores its weight [in, out] (GPT-2's Conv1D).</summary>
    public bool FanInFanOut { get; init; }

    /// <summary>Which biases of the base model train with the adapter: "none", "all" or "&lt;prefix&gt;_only" (<see cref="TrainedBiases"/>).</summary>
    public string Bias { get; init; } = "none";

    /// <summary>The bank starts U(-bound, bound).</summary>
    public double InitVectorBankBound { get; init; } = 0.02;

    /// <summary>The logits start N(0, std²).</summary>
    public double InitLogitsStd { get; init; } = 0.1;

    /// <inheritdoc/>
    public override IEnumerable<PlannedTensor> PlanModelPart(AdapterModelPartContext context) => VbLoraBank.Plan(this);

    /// <inheritdoc/>
    public override void Validate()
    {
        if (R < 1) throw new ArgumentException($"VbLoraConfig: r must be positive, got {R}");
        if (NumVectors < 1) throw new ArgumentException($"VbLoraConfig: num_vectors must be positive, got {NumVectors}");
        if (VectorLength < 1) throw new ArgumentException($"VbLoraConfig: vector_length must be positive, got {VectorLength}");
        if (Topk < 1 || Topk > NumVectors) throw new ArgumentException($"VbLoraConfig: topk must be in [1, num_vectors = {NumVectors}], got {Topk}");
        if (!(VbloraDropout >= 0 && VbloraDropout < 1)) throw new ArgumentException($"VbLoraConfig: vblora_dropout must be in [0, 1), got {VbloraDropout}");
        RequireFiniteInFloat32("init_vector_bank_bound", InitVectorBankBound);
        if (!(InitLogitsStd >= 0)) throw new ArgumentException($"VbLoraConfig: init_logits_std must be non-negative, got {InitLogitsStd}");
        RequireFiniteInFloat32("init_logits_std", InitLogitsStd);
        TrainedBiases.Validate("VbLoraConfig", Bias);
    }

    /// <inheritdoc/>
    public IReadOnlyList<PlannedTensor> FileForm(IReadOnlyList<PlannedTensor> plan, IReadOnlySet<string> fileKeys)
    {
        if (!SaveOnlyTopkWeights) return plan;
        // PEFT raises at the first training forward (its logits hold -inf); the engine refuses at load.
        if (!InferenceMode)
            throw new NotSupportedException("VbLoraConfig: a save_only_topk_weights file holds only the top-k weights of each logit row, not the logits: it loads for inference only");
        return plan.SelectMany(t => VbLoraTopK.IsLogits(t.Key) ? VbLoraTopK.FilePlan(t, Topk) : [t]).ToList();
    }

    /// <inheritdoc/>
    public Dictionary<string, Tensor> FromFileForm(Dictionary<string, Tensor> file, IReadOnlyList<PlannedTensor> plan)
    {
        if (!SaveOnlyTopkWeights) return file;
        var result = new Dictionary<string, Tensor>(file, StringComparer.Ordinal);
        foreach (var t in plan.Where(t => VbLoraTopK.IsLogits(t.Key)))
        {
            var (indices, weights) = (t.Key + VbLoraTopK.IndicesSuffix, t.Key + VbLoraTopK.WeightsSuffix);
            result[t.Key] = VbLoraTopK.LogitsFrom(file[indices], file[weights], NumVectors, t.Key);
            result.Remove(indices);
            result.Remove(weights);
        }
        return result;
    }

    /// <summary>
    /// The zoo's VB-LoRA: rank = size, vectors of length 4 x size (32 at size 8; scaled with the size, as C3A's blocks,
    /// so that the small models of the tests, widths of 16, divide too), a bank of 4 x size vectors (the logits, N per
    /// sub-vector, are most of VB-LoRA's parameters), top-2.
    /// </summary>
    public static VbLoraConfig Preset(AdapterPreset p) => new() { R = p.Size, NumVectors = 4 * p.Size, VectorLength = 4 * p.Size, TargetModules = p.Linears, Seed = p.Seed };
}
