namespace Engine.Nn;

/// <summary>
/// Muon (Jordan et al. 2024, "MomentUm Orthogonalized by Newton-Schulz"), as structure-and-optimizers.md §3.1 and
/// levanter <c>src/levanter/optim/muon.py</c>: on the hidden matrices (the groups given as <c>matrixGroups</c>),
/// <c>B ← μB + g</c>, Nesterov <c>U = μB + g</c>, <c>u = NS5(U)·√max(1, out/in)</c> (<see cref="NewtonSchulz"/>);
/// every other parameter (embeddings, the LM head, norm gains, biases: <c>adamGroups</c>, with their own learning rate)
/// gets AdamW. Then the decoupled decay of each group. <see cref="Groups(Module, double, double, double)"/> splits a
/// model the way levanter's mask does. Defaults: the paper's tuned 130M values where given (μ 0.95, Adam β =
/// (0.8, 0.98)), 5 NS steps as the spec says (levanter's current default is 10), ε 1e-8.
/// Slots: <c>momentum</c> (matrices), <c>exp_avg</c>/<c>exp_avg_sq</c> (the rest).
/// </summary>
public sealed class Muon : DecoupledOptimizer
{
    readonly HashSet<ParamGroup> _matrixGroups = new(ReferenceEqualityComparer.Instance);

    public Muon(IEnumerable<ParamGroup> matrixGroups, IEnumerable<ParamGroup> adamGroups, double momentum = 0.95, bool nesterov = true, int nsSteps = 5,
        double adamBeta1 = 0.8, double adamBeta2 = 0.98, double eps = 1e-8)
        : this(matrixGroups.ToList(), adamGroups.ToList(), momentum, nesterov, nsSteps, adamBeta1, adamBeta2, eps) { }

    Muon(List<ParamGroup> matrix, List<ParamGroup> adam, double momentum, bool nesterov, int nsSteps, double adamBeta1, double adamBeta2, double eps)
        : base(matrix.Concat(adam))
    {
        OptimizerArguments.Beta("Muon", "momentum", momentum);
        OptimizerArguments.Beta("Muon", "adamBeta1", adamBeta1);
        OptimizerArguments.Beta("Muon", "adamBeta2", adamBeta2);
        if (nsSteps < 1) throw new ArgumentException($"Muon: nsSteps must be >= 1, got {nsSteps}");
        foreach (var g in matrix)
        {
            _matrixGroups.Add(g);
            for (int i = 0; i < g.Parameters.Count; i++)
                if (g.Parameters[i].Rank != 2)
                    throw new ArgumentException($"Muon: parameter {i} of matrix group '{g.Name}' has shape {Shapes.Format(g.Parameters[i].Shape)}; Newton–Schulz needs matrices (put it in an AdamW group)");
        }
        Momentum = momentum;
        Nesterov = nesterov;
        NsSteps = nsSteps;
        AdamBeta1 = adamBeta1;
        AdamBeta2 = adamBeta2;
        Eps = eps;
    }

    public double Momentum { get; }
    public bool Nesterov { get; }
    public int NsSteps { get; }
    public double AdamBeta1 { get; }
    public double AdamBeta2 { get; }
    public double Eps { get; }

    /// <summary>True for a group that gets the orthogonalised update.</summary>
    public bool IsMatrixGroup(ParamGroup group) => _matrixGroups.Contains(group);

    public override Tensor Direction(ParamGroup group, Tensor parameter, Tensor grad, Dictionary<string, Tensor> state, long step)
    {
        if (!IsMatrixGroup(group)) return AdamMoments.Direction(state, grad, AdamBeta1, AdamBeta2, Eps, step);
        var buffer = state.TryGetValue("momentum", out var b) ? b * Momentum + grad : grad.Clone();
        state["momentum"] = buffer;
        var u = Nesterov ? buffer * Momentum + grad : buffer;
        return NewtonSchulz.Orthogonalize(u, NsSteps) * Math.Sqrt(Math.Max(1.0, (double)parameter.Shape[0] / parameter.Shape[1]));
    }

    /// <summary>
    /// levanter's split of a model (<see cref="HiddenMatrixGroups"/>): hidden matrices at <paramref name="lr"/>, the rest
    /// in AdamW groups at <paramref name="adamLr"/>; decay <paramref name="weightDecay"/> where the mask allows.
    /// </summary>
    public static (ParamGroup[] Matrix, ParamGroup[] Adam) Groups(Module model, double lr, double adamLr, double weightDecay) =>
        HiddenMatrixGroups.Build(model, lr, adamLr, weightDecay, "muon", "adam");
}
