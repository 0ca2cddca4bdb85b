namespace Engine.Nn;

/// <summary>
/// What a model adds to its own training, found by <see cref="Trainer"/> (and callable from a hand-written loop):
/// loss terms such as AdaLoRA's orthogonality regulariser, and work after each optimiser step such as AdaLoRA's rank
/// allocation. An adapted model (Engine.Peft's PeftModel) implements it from its methods' hooks.
/// </summary>
public interface ITrainingHooks
{
    /// <summary>The sum of the model's regularisation terms for this step, or null when it has none.</summary>
    Tensor? RegularizationLoss();

    /// <summary>Called after the optimiser step and before the gradients are cleared, with the 0-based step number.</summary>
    void AfterOptimizerStep(int step);
}
