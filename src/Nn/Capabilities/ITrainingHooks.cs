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

    /// <summary>
    /// Called once when a training loop starts, with its optimiser: methods that add parameters mid-training
    /// (IncreLoRA) register them with it, and methods that read its moments (LoRA-MGPO) keep it.
    /// </summary>
    void AttachOptimizer(Optimizer optimizer) { }

    /// <summary>Called before each step's forward pass (LoRA-MGPO perturbs the frozen weights here).</summary>
    void BeforeForward(int step) { }

    /// <summary>
    /// Called after backward and gradient clipping, before the optimiser step (LoRA-MGPO restores the weights here).
    /// Also called when the step fails (a non-finite loss, an exception in the loss), then with the gradients of the
    /// failed step possibly missing, so that what <see cref="BeforeForward"/> changed is always undone.
    /// </summary>
    void AfterBackward(int step) { }
}
