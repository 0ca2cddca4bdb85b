namespace Engine.Peft;

/// <summary>
/// The configuration of a method that routes each example by its task (Poly's router, multitask prompt tuning's task
/// prompts): PEFT passes <c>task_ids</c> to such a model's forward and generate. The engine carries them in a
/// <see cref="TaskIds"/> scope (<see cref="PeftModel.TaskScope(IReadOnlyList{int})"/>), read by
/// <see cref="TaskIds.Resolve"/>.
/// </summary>
public interface ITaskRoutedConfig
{
    /// <summary>How many tasks the adapter knows (PEFT's <c>n_tasks</c> / <c>num_tasks</c>): ids lie in [0, count).</summary>
    int TaskCount { get; }

    /// <summary>
    /// The task of every example when no task ids are in scope, or null (PEFT's rule: a forward without task ids fails
    /// with <see cref="MissingTaskIdsException"/>). The engine's field, written to <c>adapter_config.json</c> as
    /// <c>default_task_id</c> only when set (PEFT ignores it); single-task jobs (the zoo) set 0.
    /// </summary>
    int? DefaultTaskId { get; }
}
