namespace Engine.Nn;

/// <summary>
/// DTRN's task-specific bottom representation (spec seeds-remaining.md §7, from the paper's abstract, no public code):
/// for each task t, the fields e [B, F, d] reweighted by the task's own squeeze-and-excitation (TS-SENet,
/// <see cref="FieldSqueezeExcitation"/> over the concatenated fields) and each behaviour sequence pooled by the
/// task's hypernetwork query (<see cref="HyperAttentionPooling"/>), concatenated: x_t = [ê_{t,1}; …; ê_{t,F};
/// interest_{t,1}; …] ∈ R^{(F + Bh)·d}. Any multi-task top then reads x_t (MMoE in the demo,
/// <see cref="MultiGateMixture"/>). Parameters <c>senets.{t}.*</c>, <c>interests.*</c>.
/// </summary>
public sealed class DtrnBottom : Module
{
    /// <summary>A bottom for <paramref name="tasks"/> tasks over <paramref name="fields"/> fields and <paramref name="behaviours"/> sequences, all of width <paramref name="dim"/>.</summary>
    public DtrnBottom(int fields, int behaviours, int dim, int tasks, Generator? generator = null)
    {
        if (fields < 1 || behaviours < 0 || tasks < 1) throw new ArgumentException($"DtrnBottom: fields {fields} and tasks {tasks} must be positive, behaviours {behaviours} non-negative");
        (Fields, Behaviours, Dim, Tasks) = (fields, behaviours, dim, tasks);
        RegisterModule("senets", new ModuleList<FieldSqueezeExcitation>(Enumerable.Range(0, tasks)
            .Select(_ => new FieldSqueezeExcitation(fields, dim, Math.Max(2, fields), FieldSqueeze.Concatenate, generator)).ToList()));
        if (behaviours > 0) RegisterModule("interests", new HyperAttentionPooling(tasks, behaviours, dim, generator));
    }

    /// <summary>F.</summary>
    public int Fields { get; }

    /// <summary>The number of behaviour sequences.</summary>
    public int Behaviours { get; }

    /// <summary>d.</summary>
    public int Dim { get; }

    /// <summary>T.</summary>
    public int Tasks { get; }

    /// <summary>The width of each task's output, (F + Bh)·d.</summary>
    public int OutputWidth => (Fields + Behaviours) * Dim;

    /// <summary>Task t's TS-SENet.</summary>
    public FieldSqueezeExcitation Senet(int task) => Unwrapped<ModuleList<FieldSqueezeExcitation>>("senets")[task];

    /// <summary>The shared interest extractor (null without sequences).</summary>
    public HyperAttentionPooling? Interests => Behaviours > 0 ? Unwrapped<HyperAttentionPooling>("interests") : null;

    /// <summary>x [B, T, (F + Bh)·d] from fields [B, F, d] and the sequences with their padding masks (true at padding).</summary>
    public Tensor Forward(Tensor fields, IReadOnlyList<(Tensor Sequence, Tensor? Padding)> sequences)
    {
        if (sequences.Count != Behaviours) throw new ArgumentException($"DtrnBottom: {sequences.Count} sequences for {Behaviours} behaviour types");
        int b = fields.Size(0);
        var perTask = new Tensor[Tasks];
        for (int t = 0; t < Tasks; t++)
        {
            var parts = new List<Tensor> { Senet(t).Forward(fields).Reshape(b, Fields * Dim) };
            for (int s = 0; s < Behaviours; s++) parts.Add(Interests!.Pool(sequences[s].Sequence, sequences[s].Padding, t, s));
            perTask[t] = Tensor.Concat([.. parts], 1);
        }
        return Tensor.Stack(perTask, 1);
    }

    /// <summary>Without sequences: x [B, T, F·d].</summary>
    public override Tensor Forward(Tensor fields) => Forward(fields, []);
}
