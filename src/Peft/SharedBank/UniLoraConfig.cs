namespace Engine.Peft.SharedBank;

/// <summary>
/// UniLoRA (PEFT's <c>unilora</c>): every entry of every LoRA factor of the adapter reads one entry of a single shared
/// trainable vector θ [D] through a fixed index, scaled by 1/√(uses of that entry). PEFT's field names and defaults
/// (<c>unilora/config.py</c>). PEFT saves the indices only with <c>save_indices</c>; otherwise it redraws them from
/// numpy's PCG64 generator, which the engine does not reproduce: such a file is refused naming the missing indices,
/// and the engine always writes them (with <c>save_indices</c> true), so its files reload exactly, in PEFT too.
/// <code>var peft = Peft.Apply(gpt, new UniLoraConfig { R = 4, ThetaDLength = 256, TargetModules = ["qkv"] });</code>
/// </summary>
[PeftMethod("UNILORA", Layer = typeof(UniLoraLayer), ModelPart = typeof(UniLoraTheta), Mergeable = true, ZooLearningRate = 3e-1)]
public sealed record UniLoraConfig : PeftConfig, IFileFormReader, IBiasConfig
{
    /// <summary>Rank r of the LoRA factors.</summary>
    public int R { get; init; } = 4;

    /// <summary>Seed of the index assignment (the engine's generator, not numpy's).</summary>
    public ulong ProjSeed { get; init; } = 42;

    /// <summary>Length D of the shared vector θ.</summary>
    public int ThetaDLength { get; init; } = 256;

    /// <summary>Dropout probability on the adapter's input.</summary>
    public double UniloraDropout { get; init; }

    /// <summary>True when the Hugging Face layer stores its weight [in, out] (GPT-2's Conv1D).</summary>
    public bool FanInFanOut { get; init; }

    /// <summary>Which biases of the base model train with the adapter: "none", "all" or "&lt;prefix&gt;_only" (<see cref="TrainedBiases"/>).</summary>
    public string Bias { get; init; } = "none";

    /// <summary>θ starts U(-bound, bound) (with <see cref="InitWeights"/>).</summary>
    public double InitThetaDBound { get; init; } = 0.02;

    /// <summary>True: θ ~ U(-init_theta_d_bound, bound); false: θ ~ N(0, 1), as PEFT.</summary>
    public bool InitWeights { get; init; } = true;

    /// <summary>Files hold the indices and scales (PEFT's <c>save_indices</c>); the engine writes them always.</summary>
    public bool SaveIndices { get; init; }

    /// <inheritdoc/>
    public override IEnumerable<PlannedTensor> PlanModelPart(AdapterModelPartContext context) => UniLoraTheta.Plan(this);

    /// <inheritdoc/>
    public override void Validate()
    {
        if (R < 1) throw new ArgumentException($"UniLoraConfig: r must be positive, got {R}");
        if (ThetaDLength < 1) throw new ArgumentException($"UniLoraConfig: theta_d_length must be positive, got {ThetaDLength}");
        if (!(UniloraDropout >= 0 && UniloraDropout < 1)) throw new ArgumentException($"UniLoraConfig: unilora_dropout must be in [0, 1), got {UniloraDropout}");
        RequireFiniteInFloat32("init_theta_d_bound", InitThetaDBound);
        TrainedBiases.Validate("UniLoraConfig", Bias);
    }

    /// <inheritdoc/>
    public IReadOnlyList<PlannedTensor> FileForm(IReadOnlyList<PlannedTensor> plan, IReadOnlySet<string> fileKeys)
    {
        var missing = plan.FirstOrDefault(t => t.Key.Contains(".unilora_", StringComparison.Ordinal) && !fileKeys.Contains(t.Key));
        if (missing is not null)
            throw new InvalidDataException($"UNILORA: '{missing.Key}' is not in the file (save_indices = {(SaveIndices ? "true" : "false")}); " +
                "PEFT redraws the indices with numpy's PCG64 generator seeded proj_seed, which the engine does not reproduce: save the adapter with save_indices = True");
        return plan;
    }

    /// <inheritdoc/>
    public Dictionary<string, Tensor> FromFileForm(Dictionary<string, Tensor> file, IReadOnlyList<PlannedTensor> plan) => file;

    /// <summary>The zoo's UniLoRA: rank = size, θ of 32 x size entries (PEFT's 256 at size 8).</summary>
    public static UniLoraConfig Preset(AdapterPreset p) => new() { R = p.Size, ThetaDLength = 32 * p.Size, TargetModules = p.Linears, ProjSeed = p.Seed, Seed = p.Seed };
}
