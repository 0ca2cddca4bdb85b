namespace Engine.Nn;

/// <summary>
/// Multi-gate mixture of experts (MMoE; Ma et al. 2018), the multi-task top the spec's §7 bottoms feed: E shared expert
/// MLPs and one softmax gate per task over them, <c>y_t = Σ_e softmax(W_t x_t)_e · expert_e(x_t)</c>. Unlike the
/// token-choice <see cref="MoeFeedForward"/> every expert runs on every row (dense gating, as MMoE defines it); the
/// experts are the same <see cref="Mlp"/> blocks. The input is either shared [B, D] (classic MMoE) or per task
/// [B, T, D] (after a task-specific bottom such as <see cref="DtrnBottom"/>). Parameters <c>experts.{e}.fc/proj.*</c>,
/// <c>gates.{t}.weight/bias</c>.
/// </summary>
public sealed class MultiGateMixture : Module
{
    /// <summary>E = <paramref name="experts"/> experts of width <paramref name="dim"/> with <paramref name="hidden"/> hidden units, gated for <paramref name="tasks"/> tasks.</summary>
    public MultiGateMixture(int dim, int hidden, int experts, int tasks, Generator? generator = null)
    {
        if (dim < 1 || hidden < 1 || experts < 1 || tasks < 1) throw new ArgumentException($"MultiGateMixture: dim {dim}, hidden {hidden}, experts {experts} and tasks {tasks} must be positive");
        (Dim, Experts, Tasks) = (dim, experts, tasks);
        RegisterModule("experts", new ModuleList<Mlp>(Enumerable.Range(0, experts).Select(_ => new Mlp(dim, hidden, new ReLU(), generator: generator)).ToList()));
        RegisterModule("gates", new ModuleList<Linear>(Enumerable.Range(0, tasks).Select(_ => new Linear(dim, experts, generator: generator)).ToList()));
    }

    /// <summary>D.</summary>
    public int Dim { get; }

    /// <summary>E.</summary>
    public int Experts { get; }

    /// <summary>T.</summary>
    public int Tasks { get; }

    /// <summary>Task t's gate probabilities [B, E] for its input [B, D].</summary>
    public Tensor Gate(Tensor input, int task) => Unwrapped<ModuleList<Linear>>("gates")[task].Forward(input).Softmax(-1);

    /// <summary>y [B, T, D] from a shared input [B, D] or per-task inputs [B, T, D].</summary>
    public override Tensor Forward(Tensor input)
    {
        bool perTask = input.Rank == 3;
        if (!(input.Rank == 2 || perTask && input.Size(1) == Tasks) || input.Size(-1) != Dim)
            throw new ArgumentException($"MultiGateMixture: expects [batch, {Dim}] or [batch, {Tasks}, {Dim}], got {Shapes.Format(input.Shape)}");
        var experts = Unwrapped<ModuleList<Mlp>>("experts");
        Tensor? shared = perTask ? null : Tensor.Stack([.. experts.Items.Select(e => e.Forward(input))], 1);
        var outputs = new Tensor[Tasks];
        for (int t = 0; t < Tasks; t++)
        {
            var x = perTask ? input.Select(1, t) : input;
            var all = shared ?? Tensor.Stack([.. experts.Items.Select(e => e.Forward(x))], 1);   // [B, E, D]
            outputs[t] = Gate(x, t).Unsqueeze(1).MatMul(all).Squeeze(1);
        }
        return Tensor.Stack(outputs, 1);
    }
}
