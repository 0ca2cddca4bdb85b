namespace Engine.Nn;

/// <summary>
/// DTRN's task-specific interest extraction (spec seeds-remaining.md §7, from the paper's abstract, no public code):
/// a sequence of behaviours S_b [B, L, d] is pooled by attention with a query that a shared hypernetwork makes from
/// the task and the behaviour type, <c>q_{t,b} = H([τ_t; β_b])</c>, <c>α = softmax_l(S_b q_{t,b} / √d)</c> over the
/// unpadded positions, <c>interest_{t,b} = Σ_l α_l S_{b,l}</c>. One H serves every (task, behaviour) pair, so a task
/// costs only its embedding τ_t (parameter-efficient, as the paper stresses). Parameters <c>task_embeddings</c> [T, e],
/// <c>behaviour_embeddings</c> [Bh, e], <c>hyper.weight/bias</c> (e = d / 2 at least 4 [engine]).
/// </summary>
public sealed class HyperAttentionPooling : Module
{
    /// <summary>Pooling for <paramref name="tasks"/> tasks and <paramref name="behaviours"/> sequence types of width <paramref name="dim"/>.</summary>
    public HyperAttentionPooling(int tasks, int behaviours, int dim, Generator? generator = null)
    {
        if (tasks < 1 || behaviours < 1 || dim < 1) throw new ArgumentException($"HyperAttentionPooling: tasks {tasks}, behaviours {behaviours} and dim {dim} must be positive");
        (Tasks, Behaviours, Dim) = (tasks, behaviours, dim);
        int e = Math.Max(4, dim / 2);
        RegisterParameter("task_embeddings", Tensor.Randn([tasks, e], generator: generator));
        RegisterParameter("behaviour_embeddings", Tensor.Randn([behaviours, e], generator: generator));
        RegisterModule("hyper", new Linear(2 * e, dim, generator: generator));
    }

    /// <summary>T.</summary>
    public int Tasks { get; }

    /// <summary>The number of sequence types.</summary>
    public int Behaviours { get; }

    /// <summary>d.</summary>
    public int Dim { get; }

    /// <summary>τ [T, e].</summary>
    public Tensor TaskEmbeddings => GetParameter("task_embeddings");

    /// <summary>q_{t,b} [d], the pooling query the hypernetwork makes.</summary>
    public Tensor Query(int task, int behaviour)
    {
        if ((uint)task >= Tasks || (uint)behaviour >= Behaviours)
            throw new ArgumentOutOfRangeException(nameof(task), $"HyperAttentionPooling: task {task} of {Tasks}, behaviour {behaviour} of {Behaviours}");
        var input = Tensor.Concat([TaskEmbeddings.Select(0, task), GetParameter("behaviour_embeddings").Select(0, behaviour)], 0);
        return Child("hyper").Forward(input.Unsqueeze(0)).Squeeze(0);
    }

    /// <summary>interest [B, d] of sequence [B, L, d] for (task, behaviour); <paramref name="padding"/> [B, L] is true at padding (every row needs one real position).</summary>
    public Tensor Pool(Tensor sequence, Tensor? padding, int task, int behaviour)
    {
        if (sequence.Rank != 3 || sequence.Size(2) != Dim)
            throw new ArgumentException($"HyperAttentionPooling: expects a sequence [batch, length, {Dim}], got {Shapes.Format(sequence.Shape)}");
        if (padding is not null && !padding.Shape.SequenceEqual(sequence.Shape[..2]))
            throw new ArgumentException($"HyperAttentionPooling: padding {Shapes.Format(padding.Shape)} must be [batch, length] of the sequence {Shapes.Format(sequence.Shape)}");
        var q = Query(task, behaviour).To(sequence.DType);
        var scores = sequence.MatMul(q.Unsqueeze(-1)).Squeeze(-1) * (1 / Math.Sqrt(Dim));
        if (padding is not null) scores = scores.MaskedFill(padding.To(DType.Bool), -1e30);
        return scores.Softmax(-1).Unsqueeze(1).MatMul(sequence).Squeeze(1);
    }
}
