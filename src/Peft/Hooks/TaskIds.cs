namespace Engine.Peft;

/// <summary>
/// The task of each example for the forward passes of a scope: PEFT's <c>task_ids</c> argument of
/// <c>PeftModel.forward</c> and <c>generate</c>, which Poly's router (poly/model.py hands it to every layer by a
/// forward pre-hook) and multitask prompt tuning's prompt encoder read. Held per thread, so one scope governs a
/// forward, a training step or a whole cached generation (every decode step keeps the rows' tasks), whichever model
/// runs inside it; the innermost scope wins, and disposing it restores the outer one.
/// <code>
/// using (peft.TaskScope([0, 1, 1, 0])) logits = peft.Forward(ids);      // per example
/// using (peft.TaskScope(1)) tokens = Sampling.Generate(peft.Model, prompt, 20, options); // every row task 1
/// </code>
/// Task-routed methods call <see cref="Resolve"/>; other methods ignore the scope.
/// </summary>
public static class TaskIds
{
    // The scopes open on this thread, innermost last: per-row ids, or null rows with one task for every row.
    [ThreadStatic] static List<(int[]? Rows, int All)>? _scopes;

    /// <summary>True when a scope is open on this thread.</summary>
    public static bool InScope => _scopes is { Count: > 0 };

    /// <summary>The per-row task ids in force, or null outside a scope or inside a scope that gives every row one task.</summary>
    public static IReadOnlyList<int>? Current => _scopes is { Count: > 0 } s ? s[^1].Rows : null;

    /// <summary>Makes <paramref name="taskIds"/> (one per example of the batch) the tasks until the scope is disposed.</summary>
    /// <exception cref="ArgumentException">No ids, or a negative one.</exception>
    public static IDisposable Begin(IReadOnlyList<int> taskIds)
    {
        ArgumentNullException.ThrowIfNull(taskIds);
        if (taskIds.Count == 0) throw new ArgumentException("TaskIds: give one task id per example, got none");
        if (taskIds.Any(t => t < 0)) throw new ArgumentException($"TaskIds: task ids cannot be negative, got [{string.Join(", ", taskIds)}]");
        return Push(taskIds.ToArray(), 0);
    }

    /// <summary>Makes <paramref name="taskId"/> the task of every example, whatever the batch size, until the scope is disposed.</summary>
    /// <exception cref="ArgumentException"><paramref name="taskId"/> is negative.</exception>
    public static IDisposable Begin(int taskId)
    {
        if (taskId < 0) throw new ArgumentException($"TaskIds: a task id cannot be negative, got {taskId}");
        return Push(null, taskId);
    }

    /// <summary>As <see cref="Begin(IReadOnlyList{int})"/> from an integer tensor [B] (PEFT's <c>task_ids</c> tensor).</summary>
    /// <exception cref="ArgumentException">The tensor is not a vector of integers.</exception>
    public static IDisposable Begin(Tensor taskIds)
    {
        if (taskIds.Rank != 1 || taskIds.DType is not (DType.Int64 or DType.Int32))
            throw new ArgumentException($"TaskIds: task ids are an integer vector [batch], got {taskIds.DType.Name()} {Shapes.Format(taskIds.Shape)}");
        return Begin(taskIds.To(Device.Cpu).To(DType.Int64).ToArray<long>().Select(t => checked((int)t)).ToArray());
    }

    /// <summary>
    /// The task of each of <paramref name="batch"/> examples for adapter <paramref name="adapter"/> of
    /// <paramref name="config"/>: the innermost scope's, else the configuration's <c>default_task_id</c> for every row.
    /// </summary>
    /// <param name="config">The adapter's configuration (task count, default task).</param>
    /// <param name="method">The method's name for messages (<c>"Poly"</c>).</param>
    /// <param name="adapter">The adapter's name, for messages.</param>
    /// <param name="batch">The number of examples of the forward pass.</param>
    /// <exception cref="MissingTaskIdsException">No scope is open and the configuration has no default task.</exception>
    /// <exception cref="ArgumentException">The scope gives another number of ids than <paramref name="batch"/>, or an id
    /// is not below the configuration's task count.</exception>
    public static int[] Resolve(ITaskRoutedConfig config, string method, string adapter, int batch)
    {
        int[] ids;
        if (_scopes is { Count: > 0 } s) ids = s[^1].Rows ?? Enumerable.Repeat(s[^1].All, batch).ToArray();
        else if (config.DefaultTaskId is { } d) ids = Enumerable.Repeat(d, batch).ToArray();
        else throw new MissingTaskIdsException($"{method} adapter '{adapter}' routes each example by its task, and no task ids were given: " +
            "run it inside PeftModel.TaskScope(taskIds) (or ForwardForTasks(input, taskIds)), as PEFT's task_ids, or set default_task_id in its config");
        if (ids.Length != batch)
            throw new ArgumentException($"{method} adapter '{adapter}': {ids.Length} task ids are in scope for a batch of {batch} examples; give one per example");
        foreach (int t in ids)
            if (t >= config.TaskCount)
                throw new ArgumentException($"{method} adapter '{adapter}': only {config.TaskCount} task(s) available, got task id {t}");
        return ids;
    }

    static IDisposable Push(int[]? rows, int all)
    {
        _scopes ??= [];
        _scopes.Add((rows, all));
        return new Scope(_scopes.Count);
    }

    sealed class Scope(int depth) : IDisposable
    {
        bool _done;

        public void Dispose()
        {
            if (_done) return;
            _done = true;
            // Scopes close innermost first; one disposed out of order closes those opened inside it too.
            if (_scopes is { } s && s.Count >= depth) s.RemoveRange(depth - 1, s.Count - depth + 1);
        }
    }
}
