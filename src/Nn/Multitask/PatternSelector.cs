namespace Engine.Nn;

/// <summary>
/// APEM's pattern selector (spec seeds-remaining.md §7): each task t has a learned indicator τ_t ∈ R^d and reads the
/// fields through its own attention, <c>π_t = softmax_f(h_f · τ_t / √d)</c>, <c>z_t = Σ_f π_{t,f} h_f</c>, so tasks
/// pick different field patterns from one shared representation. Parameter <c>task_indicators</c> [T, d] (init
/// N(0, 1/d) [engine]).
/// </summary>
public sealed class PatternSelector : Module
{
    /// <summary>Selectors for <paramref name="tasks"/> tasks over fields of width <paramref name="dim"/>.</summary>
    public PatternSelector(int tasks, int dim, Generator? generator = null)
    {
        if (tasks < 1 || dim < 1) throw new ArgumentException($"PatternSelector: tasks {tasks} and dim {dim} must be positive");
        (Tasks, Dim) = (tasks, dim);
        RegisterParameter("task_indicators", Tensor.Randn([tasks, dim], generator: generator) * (1 / Math.Sqrt(dim)));
    }

    /// <summary>T.</summary>
    public int Tasks { get; }

    /// <summary>d.</summary>
    public int Dim { get; }

    /// <summary>τ [T, d].</summary>
    public Tensor TaskIndicators => GetParameter("task_indicators");

    /// <summary>π [B, T, F]: each task's attention over the fields h [B, F, d].</summary>
    public Tensor Attention(Tensor fields)
    {
        if (fields.Rank != 3 || fields.Size(2) != Dim)
            throw new ArgumentException($"PatternSelector: expects fields [batch, fields, {Dim}], got {Shapes.Format(fields.Shape)}");
        return (fields.MatMul(TaskIndicators.T.To(fields.DType)) * (1 / Math.Sqrt(Dim))).Transpose(1, 2).Softmax(-1);
    }

    /// <summary>z [B, T, d]: each task's pooled representation of fields h [B, F, d].</summary>
    public override Tensor Forward(Tensor fields) => Attention(fields).MatMul(fields);
}
