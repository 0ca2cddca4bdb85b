namespace Engine.Nn;

/// <summary>
/// MARS (Yuan et al. 2024, "MARS: Unleashing the Power of Variance Reduction for Training Large Models"), the
/// variant of structure-and-optimizers.md §3.1 and levanter <c>src/levanter/optim/mars.py</c>: a variance-reduced
/// gradient <c>c = g + γ·β1/(1−β1)·(g − g_prev)</c>, scaled so that the global norm of all the <c>c</c> is at most
/// <see cref="MaxCorrectedNorm"/> (<c>min(1, max/(‖c‖+1e-6))</c>, as levanter), then Adam on <c>c</c> and decoupled
/// decay. <c>g_prev</c> starts at zero (levanter's zero-initialised <c>mog</c>), so the first step uses
/// <c>(1 + γβ1/(1−β1)) g</c>. Defaults: levanter's (β = (0.95, 0.99), γ 0.025, ε 1e-8, max norm 1).
/// Slots <c>exp_avg</c>, <c>exp_avg_sq</c>, <c>prev_grad</c>.
/// </summary>
public sealed class Mars : DecoupledOptimizer
{
    readonly Dictionary<Tensor, Tensor> _corrected = new(ReferenceEqualityComparer.Instance);

    public Mars(IEnumerable<ParamGroup> groups, double beta1 = 0.95, double beta2 = 0.99, double gamma = 0.025, double eps = 1e-8, double? maxCorrectedNorm = 1.0) : base(groups)
    {
        OptimizerArguments.Beta("Mars", "beta1", beta1);
        OptimizerArguments.Beta("Mars", "beta2", beta2);
        if (!(gamma >= 0)) throw new ArgumentException($"Mars: gamma must be >= 0, got {gamma}");
        if (maxCorrectedNorm is { } max) OptimizerArguments.Positive("Mars", "maxCorrectedNorm", max);
        Beta1 = beta1;
        Beta2 = beta2;
        Gamma = gamma;
        Eps = eps;
        MaxCorrectedNorm = maxCorrectedNorm;
    }

    public double Beta1 { get; }
    public double Beta2 { get; }
    public double Gamma { get; }
    public double Eps { get; }

    /// <summary>Bound on the global norm of the corrected gradients; null: no clipping.</summary>
    public double? MaxCorrectedNorm { get; }

    public override void BeginStep(IReadOnlyList<ParamGroup> groups, Func<Tensor, Dictionary<string, Tensor>> stateOf)
    {
        _corrected.Clear();
        double k = Gamma * Beta1 / (1 - Beta1), squares = 0;
        foreach (var group in groups)
            foreach (var p in group.Parameters)
                if (p.Grad is { } g)
                {
                    var c = stateOf(p).TryGetValue("prev_grad", out var prev) ? g + (g - prev) * k : g * (1 + k);
                    _corrected[p] = c;
                    squares += c.To(DType.Float64).Square().Sum().Item();
                }
        if (MaxCorrectedNorm is not { } max) return;
        double scale = Math.Min(1, max / (Math.Sqrt(squares) + 1e-6));
        if (scale < 1)
            foreach (var p in _corrected.Keys.ToList()) _corrected[p] = _corrected[p] * scale;
    }

    public override Tensor Direction(ParamGroup group, Tensor parameter, Tensor grad, Dictionary<string, Tensor> state, long step)
    {
        if (!_corrected.Remove(parameter, out var c))
            throw new InvalidOperationException("Mars.Direction: no corrected gradient for this parameter; BeginStep must run first in the step");
        state["prev_grad"] = grad.Clone();
        return AdamMoments.Direction(state, c, Beta1, Beta2, Eps, step);
    }
}
