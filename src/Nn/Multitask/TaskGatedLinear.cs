namespace Engine.Nn;

/// <summary>
/// OFVL-MS's layer-adaptive sharing (spec seeds-remaining.md §7, from the paper's abstract, no public code; the
/// visual-localisation part is out of scope, the mechanism is generic): a linear layer with one shared weight and one
/// weight per task, and per (task, layer) a learned score s_t. The gate <c>g_t = 1[σ(s_t) &gt; 1/2]</c> picks
/// <c>W_t' = (1 − g_t) W_shared + g_t W_t</c> (likewise the bias); the hard gate is trained with a straight-through
/// estimator, forward g_t, backward ∂g/∂s = σ'(s) (the gradient of σ(s)). <see cref="SharingPenalty"/> λ Σ σ(s_t)
/// pushes layers towards sharing. Scores start at +1 [engine: every task begins with its own copy, each copy
/// initialised from the shared weight, so training decides what to share]. Parameters <c>shared.*</c>,
/// <c>tasks.{t}.*</c>, <c>scores</c> [T].
/// </summary>
public sealed class TaskGatedLinear : Module
{
    /// <summary>A layer <paramref name="inFeatures"/> → <paramref name="outFeatures"/> for <paramref name="tasks"/> tasks.</summary>
    public TaskGatedLinear(int inFeatures, int outFeatures, int tasks, Generator? generator = null)
    {
        if (tasks < 1) throw new ArgumentException($"TaskGatedLinear: tasks must be positive, got {tasks}");
        Tasks = tasks;
        var shared = RegisterModule("shared", new Linear(inFeatures, outFeatures, generator: generator));
        RegisterModule("tasks", new ModuleList<Linear>(Enumerable.Range(0, tasks).Select(_ =>
        {
            var copy = new Linear(inFeatures, outFeatures, generator: generator);
            using (Autograd.Autograd.NoGrad())
            {
                copy.Weight.CopyFrom(shared.Weight);
                copy.Bias!.CopyFrom(shared.Bias!);
            }
            return copy;
        }).ToList()));
        RegisterParameter("scores", Tensor.Full([tasks], 1.0));
    }

    /// <summary>T.</summary>
    public int Tasks { get; }

    /// <summary>The shared layer.</summary>
    public Linear Shared => Unwrapped<Linear>("shared");

    /// <summary>Task t's own layer.</summary>
    public Linear Task(int t) => Unwrapped<ModuleList<Linear>>("tasks")[t];

    /// <summary>s [T].</summary>
    public Tensor Scores => GetParameter("scores");

    /// <summary>The straight-through gate of task t: value 1[σ(s_t) &gt; 1/2], gradient that of σ(s_t).</summary>
    public Tensor Gate(int task)
    {
        var soft = Scores.Select(0, task).Sigmoid();
        var hard = soft.Detach().Gt(0.5).To(soft.DType);
        return hard + soft - soft.Detach();
    }

    /// <summary>Whether task t currently uses its own weight (g_t = 1).</summary>
    public bool UsesOwnWeight(int task) => Scores.Select(0, task).Item() > 0;

    /// <summary>Σ_t σ(s_t) (times λ in the loss).</summary>
    public Tensor SharingPenalty() => Scores.Sigmoid().Sum();

    /// <summary>x W_t'ᵀ + b_t' for task <paramref name="task"/>.</summary>
    public Tensor Forward(Tensor input, int task)
    {
        if ((uint)task >= Tasks) throw new ArgumentOutOfRangeException(nameof(task), task, $"TaskGatedLinear: {Tasks} tasks");
        var g = Gate(task).To(input.DType);
        var own = Task(task);
        var shared = Shared;
        var weight = shared.Weight * (1 - g) + own.Weight * g;
        var bias = shared.Bias! * (1 - g) + own.Bias! * g;
        return input.MatMul(weight.T) + bias;
    }
}
