using System.Text.Json.Serialization;

namespace Engine.Peft.Multitask;

/// <summary>
/// Poly (Ponti et al. 2023, "Combining Parameter-efficient Modules for Task-level Generalisation" (Polytropon);
/// Caccia et al. 2022, "Multi-Head Adapter Routing" (MHR) for <see cref="NSplits"/> &gt; 1; PEFT's <c>PolyConfig</c>,
/// tuners/poly/): every targeted layer holds <see cref="NSkills"/> LoRA skills, and a per-task router mixes them for
/// each example by its task id (<see cref="TaskIds"/>). Not mergeable: the update depends on the example's task.
/// PEFT's field names and defaults (r 8, n_tasks 1, n_skills 4, n_splits 1). Spec C.
/// <code>var peft = Peft.Apply(gpt, new PolyConfig { R = 4, NTasks = 2, TargetModules = ["qkv"] });
/// var logits = peft.ForwardForTasks(ids, [0, 1]);</code>
/// </summary>
[PeftMethod("POLY", Layer = typeof(PolyLayer), Mergeable = false, StartsAtBase = true, ZooLearningRate = 3e-2)]
public sealed record PolyConfig : PeftConfig, ITaskRoutedConfig
{
    /// <summary>Rank r of each skill's LoRA.</summary>
    public int R { get; init; } = 8;

    /// <summary>The router's kind; PEFT knows only "poly".</summary>
    public string PolyType { get; init; } = "poly";

    /// <summary>Number of tasks the router has logits for.</summary>
    public int NTasks { get; init; } = 1;

    /// <summary>Number of LoRA skills per layer.</summary>
    public int NSkills { get; init; } = 4;

    /// <summary>Number of splits of the input and output widths, each routed on its own (MHR's heads); 1 is Polytropon.</summary>
    public int NSplits { get; init; } = 1;

    /// <summary>True: B starts at zero (the adapted model is the base). False: B Kaiming-uniform as A (a debug start).</summary>
    public bool InitWeights { get; init; } = true;

    /// <inheritdoc/>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? DefaultTaskId { get; init; }

    /// <inheritdoc/>
    [JsonIgnore]
    public int TaskCount => NTasks;

    /// <inheritdoc/>
    public override void Validate()
    {
        if (R < 1) throw new ArgumentException($"PolyConfig: r must be positive, got {R}");
        if (PolyType != "poly") throw new ArgumentException($"PolyConfig: poly_type '{PolyType}' is not supported; PEFT knows only 'poly'");
        if (NTasks < 1) throw new ArgumentException($"PolyConfig: n_tasks must be positive, got {NTasks}");
        if (NSkills < 1) throw new ArgumentException($"PolyConfig: n_skills must be positive, got {NSkills}");
        if (NSplits < 1) throw new ArgumentException($"PolyConfig: n_splits must be positive, got {NSplits}");
        if (DefaultTaskId is { } d && (d < 0 || d >= NTasks)) throw new ArgumentException($"PolyConfig: default_task_id must lie in [0, n_tasks = {NTasks}), got {d}");
    }

    /// <summary>The zoo's Poly: rank = size, 4 skills, one task (every example task 0), every block projection.</summary>
    public static PolyConfig Preset(AdapterPreset p) => new() { R = p.Size, TargetModules = p.Linears, DefaultTaskId = 0, Seed = p.Seed };
}
