using Engine.Peft.Prompt;
using System.Text.Json.Serialization;

namespace Engine.Peft.Multitask;

/// <summary>
/// Multitask prompt tuning (Wang et al. 2023, "Multitask Prompt Tuning Enables Parameter-Efficient Transfer Learning",
/// section 3.1; PEFT's <c>MultitaskPromptTuningConfig</c>, tuners/multitask_prompt_tuning/): a shared prompt P [n, d]
/// and per task a rank-R factor u_t [n, R] (<c>prefix_task_cols</c>), v_t [R, d] (<c>prefix_task_rows</c>); the prompt
/// of an example of task t is P ⊙ (u_t v_t), prepended like prompt tuning's. Every example needs its task id
/// (<see cref="TaskIds"/>). Initialisations: RANDOM (P ~ N(0, 1), u, v ~ N(0, 0.02²)), TEXT (P from token embeddings),
/// and from a source adapter's safetensors file (<see cref="PromptTuningInitStateDictPath"/>): AVERAGE_SOURCE_TASKS,
/// EXACT_SOURCE_TASK, ONLY_SOURCE_SHARED. Spec E.
/// <code>var peft = Peft.Apply(gpt, new MultitaskPromptTuningConfig { NumVirtualTokens = 8, NumTasks = 2 });
/// var logits = peft.ForwardForTasks(ids, [1, 0]);</code>
/// </summary>
[PeftMethod("MULTITASK_PROMPT_TUNING", ModelPart = typeof(MultitaskPromptTuning), CliName = "multitask_prompt", ZooLearningRate = 1e-1)]
public sealed record MultitaskPromptTuningConfig : VirtualTokenConfig, ITaskRoutedConfig
{
    /// <summary>The source adapter's file (safetensors) for the source initialisations.</summary>
    public string? PromptTuningInitStateDictPath { get; init; }

    /// <summary>The source task EXACT_SOURCE_TASK copies.</summary>
    public int PromptTuningInitTask { get; init; }

    /// <summary>Rank R of each task's factor u_t v_t.</summary>
    public int NumRanks { get; init; } = 1;

    /// <summary>Number of tasks.</summary>
    public int NumTasks { get; init; } = 1;

    /// <inheritdoc/>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? DefaultTaskId { get; init; }

    /// <inheritdoc/>
    [JsonIgnore]
    public int TaskCount => NumTasks;

    /// <summary>True for the initialisations that read <see cref="PromptTuningInitStateDictPath"/>.</summary>
    [JsonIgnore]
    public bool FromSource => PromptTuningInit is "AVERAGE_SOURCE_TASKS" or "EXACT_SOURCE_TASK" or "ONLY_SOURCE_SHARED";

    /// <inheritdoc/>
    public override IEnumerable<PlannedTensor> PlanModelPart(AdapterModelPartContext context) => MultitaskPromptTuning.Plan(context);

    /// <inheritdoc/>
    public override void Validate()
    {
        if (NumVirtualTokens < 1) throw new ArgumentException($"MultitaskPromptTuningConfig: num_virtual_tokens must be positive, got {NumVirtualTokens}");
        if (NumRanks < 1) throw new ArgumentException($"MultitaskPromptTuningConfig: num_ranks must be positive, got {NumRanks}");
        if (NumTasks < 1) throw new ArgumentException($"MultitaskPromptTuningConfig: num_tasks must be positive, got {NumTasks}");
        if (PromptTuningInit is not ("RANDOM" or "TEXT") && !FromSource)
            throw new ArgumentException($"MultitaskPromptTuningConfig: prompt_tuning_init '{PromptTuningInit}' is not RANDOM, TEXT, AVERAGE_SOURCE_TASKS, EXACT_SOURCE_TASK or ONLY_SOURCE_SHARED");
        if (PromptTuningInitTask < 0) throw new ArgumentException($"MultitaskPromptTuningConfig: prompt_tuning_init_task cannot be negative, got {PromptTuningInitTask}");
        if (DefaultTaskId is { } d && (d < 0 || d >= NumTasks)) throw new ArgumentException($"MultitaskPromptTuningConfig: default_task_id must lie in [0, num_tasks = {NumTasks}), got {d}");
    }

    /// <summary>The zoo's multitask prompt tuning: size virtual tokens, rank 1, one task (every example task 0).</summary>
    public static MultitaskPromptTuningConfig Preset(AdapterPreset p) => new() { NumVirtualTokens = p.Size, DefaultTaskId = 0, Seed = p.Seed };
}
