namespace Engine.Peft;

/// <summary>
/// A task-routed adapter (<see cref="ITaskRoutedConfig"/>: Poly, multitask prompt tuning) ran without task ids: no
/// <see cref="TaskIds"/> scope was open and its configuration has no <c>default_task_id</c> (PEFT raises
/// "task_ids should not be None" in the same place).
/// </summary>
public sealed class MissingTaskIdsException(string message) : InvalidOperationException(message);
