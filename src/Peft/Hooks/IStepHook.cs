namespace Engine.Peft;

/// <summary>
/// A per-step callback of methods with schedules (AdaLoRA's rank budget, IncreLoRA, SaRA...). The adapted model calls
/// every hook of its layers and model parts after the optimiser step and before the gradients are cleared
/// (<see cref="PeftModel.AfterOptimizerStep"/>, which <see cref="Trainer"/> calls), so a hook reads both the
/// parameters and their gradients.
/// </summary>
public interface IStepHook
{
    /// <summary>Called once per training step with the step number (0-based) and the adapted model.</summary>
    void OnStep(int step, PeftModel model);
}
