namespace Engine.Peft;

/// <summary>
/// A method that adds a term to the training loss (AdaLoRA's orthogonality regulariser). The adapted model sums the
/// terms of its active adapters in <see cref="PeftModel.RegularizationLoss"/>, which <see cref="Trainer"/> adds to
/// every step's loss, so the term never depends on the caller remembering it.
/// </summary>
public interface ILossRegularizer
{
    /// <summary>The term for this step, or null when there is none (an adapter loaded for inference, say).</summary>
    Tensor? Regularizer(PeftModel model);
}
