namespace Engine.Nn;

/// <summary>
/// An optimiser that needs, besides the ordinary gradient, an occasional estimate of the Hessian's diagonal from an
/// extra backward pass it cannot make itself (Sophia-G's Gauss–Newton–Bartlett estimate needs labels sampled from the
/// model's own logits; structure-and-optimizers.md §3.1). The <see cref="Trainer"/> asks <see cref="HessianDue"/>
/// after each <see cref="Optimizer.Step"/>; when true it clears the gradients, runs
/// <see cref="TrainerOptions.HessianSample"/> (a loss on sampled labels, e.g. <see cref="SophiaG.SampledLabelLoss"/>),
/// backpropagates it and calls <see cref="UpdateHessian"/>, which reads the parameters' gradients.
/// </summary>
public interface IHessianEstimating
{
    /// <summary>True when the step just taken should be followed by a Hessian estimate (levanter: every k-th step).</summary>
    bool HessianDue { get; }

    /// <summary>Folds the gradients now in the parameters (of the sampled-label loss, averaged over <paramref name="dataPoints"/> predictions) into the estimate.</summary>
    void UpdateHessian(long dataPoints);
}

/// <summary>A loss whose gradient feeds <see cref="IHessianEstimating.UpdateHessian"/>, and the number of predictions it averages.</summary>
public sealed record HessianSample(Tensor Loss, long DataPoints);
