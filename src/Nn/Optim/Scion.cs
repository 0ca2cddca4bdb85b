namespace Engine.Nn;

/// <summary>
/// Scion (Pethick et al. 2025, "Training Deep Learning Models with Norm-Constrained LMOs"), in the form the
/// "Fantastic Pretraining Optimizers" sweeps ran (structure-and-optimizers.md §3.1): on the hidden matrices
/// (<c>matrixGroups</c>) an EMA momentum <c>m ← μm + (1−μ)g</c> and <c>u = NS(m)·√max(1, out/in)</c> with
/// <see cref="NsSteps"/> Newton–Schulz steps (10); on everything else (<c>signGroups</c>: embeddings, head, vectors)
/// Signum, <c>b ← β1 b + (1−β1) g</c>, <c>u = sign(b)</c>, at the rate <c>η·scion_to_signum_lr</c> that those groups
/// carry (<see cref="Groups"/>). Then each group's decoupled decay (the paper's tuned λ is 0).
/// levanter's current <c>scion.py</c> is a later revision (spectral/sign radii, 1/d_in sign scaling, no
/// <c>scion_to_signum_lr</c>); we follow the spec, whose hyper-parameters (the ratio) are the ones the paper tuned.
/// Slots: <c>momentum</c> (matrices), <c>exp_avg</c> (Signum's b).
/// </summary>
public sealed class Scion : DecoupledOptimizer
{
    readonly HashSet<ParamGroup> _matrixGroups = new(ReferenceEqualityComparer.Instance);

    public Scion(IEnumerable<ParamGroup> matrixGroups, IEnumerable<ParamGroup> signGroups, double momentum = 0.95, double beta1 = 0.9, int nsSteps = 10)
        : this(matrixGroups.ToList(), signGroups.ToList(), momentum, beta1, nsSteps) { }

    Scion(List<ParamGroup> matrix, List<ParamGroup> sign, double momentum, double beta1, int nsSteps) : base(matrix.Concat(sign))
    {
        OptimizerArguments.Beta("Scion", "momentum", momentum);
        OptimizerArguments.Beta("Scion", "beta1", beta1);
        if (nsSteps < 1) throw new ArgumentException($"Scion: nsSteps must be >= 1, got {nsSteps}");
        foreach (var g in matrix)
        {
            _matrixGroups.Add(g);
            for (int i = 0; i < g.Parameters.Count; i++)
                if (g.Parameters[i].Rank != 2)
                    throw new ArgumentException($"Scion: parameter {i} of matrix group '{g.Name}' has shape {Shapes.Format(g.Parameters[i].Shape)}; Newton–Schulz needs matrices (put it in a sign group)");
        }
        Momentum = momentum;
        Beta1 = beta1;
        NsSteps = nsSteps;
    }

    public double Momentum { get; }
    public double Beta1 { get; }
    public int NsSteps { get; }

    public override Tensor Direction(ParamGroup group, Tensor parameter, Tensor grad, Dictionary<string, Tensor> state, long step)
    {
        if (!_matrixGroups.Contains(group))
        {
            var b = state.TryGetValue("exp_avg", out var b1) ? b1 * Beta1 + grad * (1 - Beta1) : grad * (1 - Beta1);
            state["exp_avg"] = b;
            return b.Sign();
        }
        var m = state.TryGetValue("momentum", out var m1) ? m1 * Momentum + grad * (1 - Momentum) : grad * (1 - Momentum);
        state["momentum"] = m;
        return NewtonSchulz.Orthogonalize(m, NsSteps) * Math.Sqrt(Math.Max(1.0, (double)parameter.Shape[0] / parameter.Shape[1]));
    }

    /// <summary>
    /// The model split as levanter's mask (<see cref="HiddenMatrixGroups"/>): hidden matrices at <paramref name="lr"/>,
    /// the rest (Signum) at <paramref name="lr"/>·<paramref name="signumLrRatio"/>.
    /// </summary>
    public static (ParamGroup[] Matrix, ParamGroup[] Sign) Groups(Module model, double lr, double signumLrRatio, double weightDecay) =>
        HiddenMatrixGroups.Build(model, lr, lr * signumLrRatio, weightDecay, "scion", "signum");
}
