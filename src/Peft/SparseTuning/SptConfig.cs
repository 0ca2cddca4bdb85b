namespace Engine.Peft.SparseTuning;

/// <summary>
/// SPT, sensitivity-aware parameter-efficient tuning (Zhang et al. 2023, ICCV 2023, arXiv:2303.08566; ziplab/SPT
/// <c>engine.py::get_sensitivity</c>, <c>model/vision_transformer_timm.py</c>; spec adapters-other.md §6), LoRA form:
/// before training, each targeted weight's sensitivity s_n = Σ_b (∂L_b/∂w_n)² is accumulated over the first
/// <see cref="SensitivityBatchNum"/> calibration batches (<see cref="WeightGradients.SumOfSquares"/>); a global budget
/// is then split by <see cref="SptAllocation"/>: a weight that collects many of the most sensitive elements gets a LoRA
/// (y += B A x, no scale, B = 0), the others a sparse delta on exactly their selected entries (values 0). The
/// allocation is written into the configuration (<see cref="StructuredModules"/>, <see cref="SparseCounts"/>, and
/// <c>target_modules</c> narrowed to the weights that got something), so a file loads without data.
/// Field names are the reference's arguments in snake case; <see cref="Budget"/> and <see cref="SweepStep"/> are counts
/// of parameters instead of its millions (see <see cref="SptAllocation"/> for the deviations).
/// <code>var peft = Peft.Apply(gpt, new SptConfig { LowRankDim = 4, Budget = 2000, TargetModules = ["qkv", "mlp.fc"] }, calibration: data);</code>
/// </summary>
[PeftMethod("SPT", Layer = typeof(SptLayer), Mergeable = true, StartsAtBase = true, InPeft = false, ZooLearningRate = 3e-2)]
public sealed record SptConfig : PeftConfig, ICalibratedConfig
{
    /// <summary>r: the rank of the structurally tuned weights' LoRA (the reference's default 8).</summary>
    public int LowRankDim { get; init; } = 8;

    /// <summary>α: a weight is tuned structurally when it holds at least r (in + out) / α selected elements (spec default 10).</summary>
    public double Alpha { get; init; } = 10;

    /// <summary>The structured form: "lora" (mergeable); the reference's "adapter" form is not implemented.</summary>
    public string StructuredType { get; init; } = "lora";

    /// <summary>K: how many calibration batches the sensitivity sums (the reference function's default 8; fewer if the data has fewer).</summary>
    public int SensitivityBatchNum { get; init; } = 8;

    /// <summary>The target trainable count; null: LoRA's count at rank r over the targets, Σ r (in + out).</summary>
    public long? Budget { get; init; }

    /// <summary>Elements added per sweep point; null: budget / 50 (the reference's 0.02 M step for a 1.0 M budget), at least 1.</summary>
    public long? SweepStep { get; init; }

    /// <summary>Dropout on the LoRA's input (the reference's is 0.1 in its ViT blocks; the engine's default 0).</summary>
    public double LoraDropout { get; init; }

    /// <summary>The allocation: the external paths of the weights tuned by LoRA (written by the calibration).</summary>
    public IReadOnlyList<string> StructuredModules { get; init; } = [];

    /// <summary>The allocation: the number of sparse entries of each other weight, by external path (written by the calibration).</summary>
    public IReadOnlyDictionary<string, int> SparseCounts { get; init; } = new Dictionary<string, int>();

    /// <inheritdoc/>
    public override void Validate()
    {
        if (LowRankDim < 1) throw new ArgumentException($"SptConfig: low_rank_dim must be positive, got {LowRankDim}");
        if (!(Alpha > 0) || !double.IsFinite(Alpha)) throw new ArgumentException($"SptConfig: alpha must be positive and finite, got {Alpha}");
        if (StructuredType != "lora") throw new ArgumentException($"SptConfig: structured_type '{StructuredType}' is not supported (only 'lora')");
        if (SensitivityBatchNum < 1) throw new ArgumentException($"SptConfig: sensitivity_batch_num must be positive, got {SensitivityBatchNum}");
        if (Budget is < 1) throw new ArgumentException($"SptConfig: budget must be positive, got {Budget}");
        if (SweepStep is < 1) throw new ArgumentException($"SptConfig: sweep_step must be positive, got {SweepStep}");
        if (!(LoraDropout >= 0 && LoraDropout < 1)) throw new ArgumentException($"SptConfig: lora_dropout must be in [0, 1), got {LoraDropout}");
        foreach (var (path, g) in SparseCounts ?? new Dictionary<string, int>())
            if (g < 1) throw new ArgumentException($"SptConfig: sparse_counts['{path}'] must be positive, got {g}");
        foreach (var path in StructuredModules ?? [])
            if (SparseCounts?.ContainsKey(path) == true) throw new ArgumentException($"SptConfig: '{path}' is both structured and sparse");
    }

    /// <summary>True when the weight at <paramref name="path"/> is tuned by LoRA.</summary>
    public bool IsStructured(ModulePath path) => StructuredModules.Contains(path.External);

    /// <summary>The number of sparse entries of the weight at <paramref name="path"/>.</summary>
    /// <exception cref="ArgumentException">The allocation has no entry for it.</exception>
    public int SparseCount(ModulePath path) => SparseCounts.TryGetValue(path.External, out var g) ? g
        : throw new ArgumentException($"SptConfig: the allocation has no entry for '{path.External}' (neither structured_modules nor sparse_counts)");

    string? ICalibratedConfig.CalibrationNeed => "SPT's sensitivity (get_sensitivity)";

    CalibrationResult ICalibratedConfig.Calibrate(CalibrationContext context) => SptSensitivity.Calibrate(this, context);

    /// <summary>The zoo's SPT: LoRA rank = size and LoRA's budget at that rank over every block projection.</summary>
    public static SptConfig Preset(AdapterPreset p) => new() { LowRankDim = p.Size, TargetModules = p.Linears, Seed = p.Seed };
}
