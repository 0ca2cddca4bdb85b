using System.Text.Json.Serialization;

namespace Engine.Peft.Inserted;

/// <summary>
/// VL-Adapter (Sung et al. 2022, "VL-Adapter: Parameter-Efficient Transfer Learning for Vision-and-Language Tasks",
/// arXiv 2112.06825, CVPR 2022; ylsung/VL_adapter <c>VL-T5/src/adapters/adapter_controller.py</c>,
/// <c>adapter_modeling.py</c>, <c>my_transformers/modeling_t5.py</c>; spec adapters-other.md §10): on each sublayer
/// output y (self-attention and feed-forward, before dropout and the residual add) y′ = y + Up(swish(Down(y))), d → d/8.
/// The paper's best setting — and the default here — is ONE adapter shared by all tasks (<c>use_single_adapter</c>);
/// <see cref="UseSingleAdapter"/> = false gives one adapter per task, chosen per example by its task id
/// (<see cref="TaskIds"/>, <see cref="PeftModel.TaskScope(IReadOnlyList{int})"/>). There is no vision model in the
/// engine: the adapters go on the text models' sublayer outputs (GPT-2's <c>attn.proj</c>/<c>mlp.proj</c>, BERT's
/// <c>output.dense</c>). Init as the backbone's <c>_init_weights</c> (N(0, 0.02²), biases zero), so the adapted model
/// is NOT the base at init (spec pitfall 6) unless <see cref="ZeroUp"/>. Not mergeable (swish is non-linear).
/// Engine-only <c>peft_type</c> "VL_ADAPTER".
/// <code>var peft = Peft.Apply(gpt, new VlAdapterConfig { TargetModules = ["attn.proj", "mlp.proj"] });</code>
/// </summary>
[PeftMethod("VL_ADAPTER", Layer = typeof(VlAdapterLayer), Mergeable = false, StartsAtBase = false, InPeft = false, ZooLearningRate = 1e-2)]
public sealed record VlAdapterConfig : PeftConfig, ITaskRoutedConfig
{
    /// <summary>The reference's <c>reduction_factor</c>: the bottleneck is d // reduction_factor wide.</summary>
    public int ReductionFactor { get; init; } = 8;

    /// <summary>
    /// The engine's override of the bottleneck width (null: d // <see cref="ReductionFactor"/>, the reference's rule);
    /// the zoo sets it so that the trainable count is comparable to LoRA's.
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? DownSampleSize { get; init; }

    /// <summary>The reference's <c>non_linearity</c>: "swish" (x·σ(x), the default), "gelu_new", "relu" or "tanh".</summary>
    public string NonLinearity { get; init; } = "swish";

    /// <summary>The reference's <c>use_single_adapter</c>: one adapter for all tasks (true, the paper's best) or one per task.</summary>
    public bool UseSingleAdapter { get; init; } = true;

    /// <summary>Number of tasks (the reference's <c>tasks</c> list); only per-task adapters use it.</summary>
    public int NTasks { get; init; } = 1;

    /// <inheritdoc/>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? DefaultTaskId { get; init; }

    /// <summary>Standard deviation of both projections' weights (the backbone's <c>initializer_range</c>, 0.02).</summary>
    public double InitStd { get; init; } = 0.02;

    /// <summary>The engine's flag: start Up at zero, so that the adapted model starts as the base (the zoo's preset and the init=base law use it).</summary>
    public bool ZeroUp { get; init; }

    /// <inheritdoc/>
    [JsonIgnore]
    public int TaskCount => NTasks;

    /// <inheritdoc/>
    public override void Validate()
    {
        if (ReductionFactor < 1) throw new ArgumentException($"VlAdapterConfig: reduction_factor must be positive, got {ReductionFactor}");
        if (DownSampleSize is < 1) throw new ArgumentException($"VlAdapterConfig: down_sample_size must be positive, got {DownSampleSize}");
        if (NonLinearity is not ("swish" or "gelu_new" or "relu" or "tanh")) throw new ArgumentException($"VlAdapterConfig: non_linearity '{NonLinearity}' is not one of swish, gelu_new, relu, tanh");
        if (NTasks < 1) throw new ArgumentException($"VlAdapterConfig: n_tasks must be positive, got {NTasks}");
        if (DefaultTaskId is { } d && (d < 0 || d >= NTasks)) throw new ArgumentException($"VlAdapterConfig: default_task_id must lie in [0, n_tasks = {NTasks}), got {d}");
        if (!(InitStd >= 0) || !double.IsFinite(InitStd)) throw new ArgumentException($"VlAdapterConfig: init_std must be finite and non-negative, got {InitStd}");
    }

    /// <summary>
    /// The zoo's VL-Adapter: one shared adapter after both sublayer outputs, 4·size wide (two adapters of about 2·d·m
    /// each per block against LoRA's 16·d·r on every projection), Up zero so training starts at the base.
    /// </summary>
    public static VlAdapterConfig Preset(AdapterPreset p) => new()
    {
        DownSampleSize = 4 * p.Size, ZeroUp = true, TargetModules = p.SublayerOutputs, Seed = p.Seed,
    };
}
