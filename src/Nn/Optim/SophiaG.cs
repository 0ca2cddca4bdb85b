namespace Engine.Nn;

/// <summary>
/// Sophia-G (Liu et al. 2023, "Sophia: A Scalable Stochastic Second-order Optimizer for Language Model Pre-training",
/// Algorithms 2–3), as structure-and-optimizers.md §3.1 and levanter <c>src/levanter/optim/sophia.py</c>
/// (<c>_sophia_gradient_transform</c>) arrange it: <c>m ← β1 m + (1−β1) g</c>,
/// <c>u = clip(m̂ / max(γh, ε), −c, c)</c> with <c>m̂ = m/(1−β1^t)</c> (levanter bias-corrects; the paper does not —
/// we follow the code), then the decoupled decay. <c>h</c> is an EMA (β2) of the Gauss–Newton–Bartlett estimate
/// <c>B·ĝ⊙ĝ</c>, ĝ the gradient of the loss on labels sampled from the model's logits over B predictions; it is
/// refreshed after every k-th step (levanter: when the step count, this step included, is a multiple of k), through
/// <see cref="IHessianEstimating"/>: the <see cref="Trainer"/> runs <see cref="TrainerOptions.HessianSample"/> (for a
/// language model <see cref="SampledLabelLoss"/>) and calls <see cref="UpdateHessian"/>. Until the first estimate
/// h = 0, so <c>u = clip(m̂/ε)</c>, i.e. ±c wherever m̂ is not tiny (levanter's start too). Every update entry is
/// bounded by <c>η·c</c> before decay. levanter's own <c>stochastic_diag_gauss_newton</c> raises NotImplemented; the
/// estimate follows the paper's Algorithm 2 and levanter's commented body (<c>x² · num_data_points</c>).
/// Defaults: levanter BaseSophiaConfig β = (0.96, 0.99), ε 1e-12, c 1, γ 0.05 for G (GAMMA_SOPHIA_G), k 10.
/// Slots <c>exp_avg</c>, <c>hessian</c>.
/// </summary>
public sealed class SophiaG : DecoupledOptimizer, IHessianEstimating
{
    public SophiaG(IEnumerable<ParamGroup> groups, double beta1 = 0.96, double beta2 = 0.99, double gamma = 0.05, double eps = 1e-12, double clip = 1.0, int hessianInterval = 10) : base(groups)
    {
        OptimizerArguments.Beta("SophiaG", "beta1", beta1);
        OptimizerArguments.Beta("SophiaG", "beta2", beta2);
        OptimizerArguments.Positive("SophiaG", "gamma", gamma);
        OptimizerArguments.Positive("SophiaG", "eps", eps);
        OptimizerArguments.Positive("SophiaG", "clip", clip);
        if (hessianInterval < 1) throw new ArgumentException($"SophiaG: hessianInterval must be >= 1, got {hessianInterval}");
        Beta1 = beta1;
        Beta2 = beta2;
        Gamma = gamma;
        Eps = eps;
        Clip = clip;
        HessianInterval = hessianInterval;
    }

    public double Beta1 { get; }
    public double Beta2 { get; }
    public double Gamma { get; }
    public double Eps { get; }

    /// <summary>The clip threshold c: each entry of the direction lies in [−c, c].</summary>
    public double Clip { get; }

    /// <summary>k: steps between Hessian estimates.</summary>
    public int HessianInterval { get; }

    public bool HessianDue => StepCount > 0 && StepCount % HessianInterval == 0;

    public override Tensor Direction(ParamGroup group, Tensor parameter, Tensor grad, Dictionary<string, Tensor> state, long step)
    {
        var m = state.TryGetValue("exp_avg", out var m1) ? m1 * Beta1 + grad * (1 - Beta1) : grad * (1 - Beta1);
        state["exp_avg"] = m;
        var mHat = m / (1 - Math.Pow(Beta1, step));
        var denominator = state.TryGetValue("hessian", out var h) ? (h * Gamma).Clamp(min: Eps) : null;
        return (denominator is null ? mHat / Eps : mHat / denominator).Clamp(-Clip, Clip);
    }

    /// <summary><c>h ← β2 h + (1−β2)·B·ĝ⊙ĝ</c> for every parameter with a gradient (ĝ from the sampled-label loss).</summary>
    public void UpdateHessian(long dataPoints)
    {
        if (dataPoints < 1) throw new ArgumentException($"SophiaG.UpdateHessian: dataPoints must be >= 1, got {dataPoints}");
        using (Autograd.Autograd.NoGrad())
            foreach (var group in Groups)
                foreach (var p in group.Parameters)
                    if (p.Grad is { } g)
                    {
                        var state = StateFor(p);
                        var estimate = g.Square() * (double)dataPoints;
                        state["hessian"] = state.TryGetValue("hessian", out var h) ? h * Beta2 + estimate * (1 - Beta2) : estimate * (1 - Beta2);
                    }
    }

    /// <summary>
    /// The Gauss–Newton–Bartlett loss of Sophia-G (paper Algorithm 2): cross-entropy of <paramref name="logits"/>
    /// ([..., V], still attached to the graph) against labels drawn from their own softmax with
    /// <paramref name="generator"/> (inverse CDF of one uniform per prediction, so a seeded generator makes it
    /// reproducible and a checkpoint that saves the generator resumes it). B is the number of predictions.
    /// </summary>
    public static HessianSample SampledLabelLoss(Tensor logits, Generator generator)
    {
        var targets = SampleLabels(logits, generator);
        return new HessianSample(Losses.CrossEntropy(logits, targets), targets.Numel);
    }

    /// <summary>One label per prediction of <paramref name="logits"/> ([..., V]) drawn from its softmax (inverse CDF of a uniform from <paramref name="generator"/>), Int64 on the logits' device.</summary>
    public static Tensor SampleLabels(Tensor logits, Generator generator)
    {
        if (logits.Rank < 2) throw new ArgumentException($"SophiaG.SampleLabels: logits must be [..., vocab], got {Shapes.Format(logits.Shape)}");
        int vocab = logits.Shape[^1];
        int rows = (int)(logits.Numel / vocab);
        double[] probabilities;
        using (Autograd.Autograd.NoGrad()) probabilities = logits.Detach().To(DType.Float64).Softmax(-1).ToDoubleArray();
        var uniforms = Tensor.Rand([rows], dtype: DType.Float64, generator: generator).ToDoubleArray();
        var labels = new long[rows];
        for (int r = 0; r < rows; r++)
        {
            double cumulative = 0;
            int label = vocab - 1;
            for (int v = 0; v < vocab; v++)
            {
                cumulative += probabilities[r * vocab + v];
                if (uniforms[r] < cumulative) { label = v; break; }
            }
            labels[r] = label;
        }
        return Tensor.FromArray(labels, logits.Shape[..^1]).To(logits.Device);
    }
}
