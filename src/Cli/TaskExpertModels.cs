using Engine.Nn;

namespace Engine.Cli;

/// <summary>A batch of <see cref="SpamTaskData"/> rows: fields [B, 3, 384], flags [B, 5], the two token sequences.</summary>
sealed record TaskBatch(Tensor Fields, Tensor Flags, IReadOnlyList<(Tensor Sequence, Tensor Padding)> Sequences);

/// <summary>
/// The multi-task networks <c>engine task-experts</c> compares (spec seeds-remaining.md §7): each maps a
/// <see cref="TaskBatch"/> to one logit per task through the same kind of input layer (each frozen 384-wide field and
/// the header flags projected to d, giving F = 4 field tokens) and one tower per task (d_in → 32 → 1).
/// </summary>
abstract class TaskExpertModel : Module
{
    protected TaskExpertModel(int tasks, int dim, Generator generator)
    {
        (Tasks, Dim, Generator) = (tasks, dim, generator);
        RegisterModule("fields", new ModuleList<Linear>(Enumerable.Range(0, 3).Select(_ => new Linear(384, dim, generator: generator)).ToList()));
        RegisterModule("flags", new Linear(SpamTaskData.FlagCount, dim, generator: generator));
    }

    public int Tasks { get; }
    public int Dim { get; }
    protected Generator Generator { get; }

    /// <summary>The F = 4 field tokens [B, 4, d].</summary>
    protected Tensor FieldTokens(TaskBatch batch)
    {
        var projections = Unwrapped<ModuleList<Linear>>("fields");
        var tokens = Enumerable.Range(0, 3).Select(f => projections[f].Forward(batch.Fields.Select(1, f))).Append(Child("flags").Forward(batch.Flags));
        return Tensor.Stack([.. tokens], 1);
    }

    protected void AddTowers(int inputWidth) => RegisterModule("towers", new ModuleList<Sequential>(Enumerable.Range(0, Tasks)
        .Select(_ => new Sequential(new Linear(inputWidth, 32, generator: Generator), new ReLU(), new Linear(32, 1, generator: Generator))).ToList()));

    /// <summary>Logits [B, T] from each task's representation [B, T, width].</summary>
    protected Tensor Towers(Tensor perTask)
    {
        var towers = Unwrapped<ModuleList<Sequential>>("towers");
        return Tensor.Concat([.. Enumerable.Range(0, Tasks).Select(t => towers[t].Forward(perTask.Select(1, t)))], 1);
    }

    /// <summary>One logit per task, [B, T].</summary>
    public abstract Tensor Logits(TaskBatch batch);

    /// <summary>An extra loss term (OFVL's sharing penalty); zero by default.</summary>
    public virtual Tensor? Penalty() => null;

    /// <summary>The parameters every task's gradient is normalised over (OFVL); null to train on the summed loss.</summary>
    public virtual IReadOnlyList<Tensor>? NormalisedShared() => null;

    public override Tensor Forward(Tensor input) => throw new NotSupportedException("TaskExpertModel: call Logits with a TaskBatch");
}

/// <summary>Hard parameter sharing: one MLP bottom (4d → 64 → 64) for every task.</summary>
sealed class SharedBottomModel : TaskExpertModel
{
    public SharedBottomModel(int tasks, int dim, Generator generator) : base(tasks, dim, generator)
    {
        RegisterModule("bottom", new Sequential(new Linear(4 * dim, 64, generator: generator), new ReLU(), new Linear(64, 64, generator: generator), new ReLU()));
        AddTowers(64);
    }

    public override Tensor Logits(TaskBatch batch)
    {
        var fields = FieldTokens(batch);
        var h = Child("bottom").Forward(fields.Reshape(fields.Size(0), 4 * Dim));
        return Towers(h.Unsqueeze(1).Expand(h.Size(0), Tasks, 64));
    }
}

/// <summary>MMoE on the concatenated fields: four experts, a gate per task.</summary>
sealed class MmoeModel : TaskExpertModel
{
    public MmoeModel(int tasks, int dim, Generator generator) : base(tasks, dim, generator)
    {
        RegisterModule("mmoe", new MultiGateMixture(4 * dim, 64, experts: 4, tasks, generator));
        AddTowers(4 * dim);
    }

    public override Tensor Logits(TaskBatch batch)
    {
        var fields = FieldTokens(batch);
        return Towers(Child("mmoe").Forward(fields.Reshape(fields.Size(0), 4 * Dim)));
    }
}

/// <summary>DTRN's task-specific bottoms (TS-SENet and hypernetwork interest pooling of the two token sequences) under MMoE.</summary>
sealed class DtrnMmoeModel : TaskExpertModel
{
    public DtrnMmoeModel(int tasks, int dim, Generator generator) : base(tasks, dim, generator)
    {
        RegisterModule("tokens", new Linear(384, dim, generator: generator));
        var bottom = RegisterModule("dtrn", new DtrnBottom(4, 2, dim, tasks, generator));
        RegisterModule("mmoe", new MultiGateMixture(bottom.OutputWidth, 64, experts: 4, tasks, generator));
        AddTowers(bottom.OutputWidth);
    }

    public override Tensor Logits(TaskBatch batch)
    {
        var tokens = Child("tokens");
        var sequences = batch.Sequences.Select(s => (tokens.Forward(s.Sequence), (Tensor?)s.Padding)).ToList();
        var bottoms = Unwrapped<DtrnBottom>("dtrn").Forward(FieldTokens(batch), sequences);
        return Towers(Child("mmoe").Forward(bottoms));
    }
}

/// <summary>APEM: field transformer, SE reweighting, one pattern selector per task.</summary>
sealed class ApemModel : TaskExpertModel
{
    public ApemModel(int tasks, int dim, Generator generator) : base(tasks, dim, generator)
    {
        RegisterModule("apem", new ApemBottom(4, dim, heads: 2, tasks, generator));
        AddTowers(dim);
    }

    public override Tensor Logits(TaskBatch batch) => Towers(Child("apem").Forward(FieldTokens(batch)));
}

/// <summary>
/// OFVL-MS's layer-adaptive sharing on the shared-bottom MLP: each of its two layers has a shared and a per-task
/// weight chosen by a learned hard gate, a sharing penalty λ Σ σ(s), and gradient normalisation of the shared
/// parameters (the input layer and the layers' shared weights) across tasks.
/// </summary>
sealed class OfvlModel : TaskExpertModel
{
    readonly double _lambda;

    public OfvlModel(int tasks, int dim, Generator generator, double lambda = 1e-2) : base(tasks, dim, generator)
    {
        _lambda = lambda;
        RegisterModule("layers", new ModuleList<TaskGatedLinear>([new TaskGatedLinear(4 * dim, 64, tasks, generator), new TaskGatedLinear(64, 64, tasks, generator)]));
        AddTowers(64);
    }

    IReadOnlyList<TaskGatedLinear> Layers => [.. Unwrapped<ModuleList<TaskGatedLinear>>("layers").Items];

    public override Tensor Logits(TaskBatch batch)
    {
        var fields = FieldTokens(batch);
        var x = fields.Reshape(fields.Size(0), 4 * Dim);
        var perTask = Enumerable.Range(0, Tasks).Select(t =>
        {
            var h = x;
            foreach (var layer in Layers) h = layer.Forward(h, t).Relu();
            return h;
        }).ToArray();
        return Towers(Tensor.Stack(perTask, 1));
    }

    public override Tensor? Penalty() => Layers.Select(l => l.SharingPenalty()).Aggregate((a, b) => a + b) * _lambda;

    public override IReadOnlyList<Tensor>? NormalisedShared() =>
        [.. NamedParameters().Where(p => p.Name.StartsWith("fields.") || p.Name.StartsWith("flags.") || p.Name.Contains(".shared.")).Select(p => p.Parameter)];

    /// <summary>"own/shared" per layer and task, e.g. "L1: spam own, reply shared, …".</summary>
    public string GateSummary(IReadOnlyList<string> taskNames) => string.Join("; ", Layers.Select((layer, l) =>
        $"layer {l + 1}: " + string.Join(", ", Enumerable.Range(0, Tasks).Select(t => $"{taskNames[t]} {(layer.UsesOwnWeight(t) ? "own" : "shared")}"))));
}
