namespace Engine.Peft;

/// <summary>
/// A method that acts around each training step's forward and backward pass, not only after the optimiser step
/// (<see cref="IStepHook"/>): LoRA-MGPO adds a perturbation to the frozen weights before the forward pass and removes
/// it after backward (spec adapters-lowrank.md section 10). The adapted model calls every active adapter's layers and
/// model part that implement it (<see cref="PeftModel.BeforeForward"/>, <see cref="PeftModel.AfterBackward"/>, which
/// <see cref="Trainer"/> calls). <see cref="AfterBackward"/> also runs when the step fails, so it must undo
/// <see cref="BeforeForward"/> whether or not gradients exist.
/// </summary>
public interface ITrainingPhaseHook
{
    /// <summary>Called before the step's forward pass, in training mode.</summary>
    void BeforeForward(int step, PeftModel model);

    /// <summary>Called after backward and clipping, before the optimiser step (or after a failed step).</summary>
    void AfterBackward(int step, PeftModel model);
}
