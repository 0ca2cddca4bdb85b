namespace Engine.Peft.Multitask;

/// <summary>
/// Poly's router (PEFT's <c>PolyRouter</c>, poly/router.py; Ponti et al. 2023, section 3): logits [n_tasks,
/// n_splits·n_skills] (<c>module_logits</c>, U(±1e-3) at start). For the examples' tasks it gives mixing weights
/// [B, n_splits, n_skills]: in training a relaxed Bernoulli sample at temperature 1, sigmoid(l + log u − log(1−u)) with
/// u uniform (the Gumbel-sigmoid trick, differentiable in l), in evaluation sigmoid(l); each split's weights are then
/// divided by their sum + 1e-12.
/// </summary>
public sealed class PolyRouter : Module
{
    // torch.distributions' clamp_probs keeps u inside [eps, 1 - eps] (float32 machine epsilon) so the logs stay finite.
    const double Eps = 1.1920928955078125e-07, SumEps = 1e-12;
    readonly int _splits, _skills;
    readonly Generator _noise;

    /// <summary>A router for <paramref name="tasks"/> tasks; <paramref name="generator"/> draws the start and the training noise.</summary>
    public PolyRouter(int tasks, int splits, int skills, DType dtype, Generator generator)
    {
        _splits = splits;
        _skills = skills;
        _noise = generator;
        RegisterParameter("module_logits", Tensor.Rand([tasks, splits * skills], -1e-3, 1e-3, dtype, generator));
    }

    /// <summary>The logits [n_tasks, n_splits·n_skills].</summary>
    public Tensor Logits => GetParameter("module_logits");

    /// <summary>The mixing weights [B, n_splits, n_skills] of examples with tasks <paramref name="taskIds"/> (checked by the caller).</summary>
    public Tensor Weights(IReadOnlyList<int> taskIds)
    {
        var v = Activations(taskIds);
        return v / (v.Sum(-1, keepDim: true) + SumEps);
    }

    /// <summary>
    /// The weights before normalisation [B, n_splits, n_skills]: a relaxed Bernoulli sample in training (each entry
    /// exceeds 1/2 with probability sigmoid(l)), sigmoid(l) in evaluation.
    /// </summary>
    public Tensor Activations(IReadOnlyList<int> taskIds)
    {
        var index = Tensor.FromArray(taskIds.Select(t => (long)t).ToArray()).To(Logits.Device);
        var logits = Logits.IndexSelect(0, index).Reshape(taskIds.Count, _splits, _skills);
        Tensor v;
        if (Training)
        {
            var u = Tensor.Rand(logits.Shape, 0, 1, logits.DType, _noise, logits.Device).Clamp(Eps, 1 - Eps);
            v = (logits + u.Log() - (-u).Log1p()).Sigmoid();
        }
        else v = logits.Sigmoid();
        return v;
    }

    /// <summary>Not a layer: use <see cref="Weights"/>.</summary>
    public override Tensor Forward(Tensor input) => throw new NotSupportedException("PolyRouter: call Weights(taskIds)");
}
