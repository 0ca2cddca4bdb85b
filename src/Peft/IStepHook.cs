namespace Engine.Peft;

/// <summary>
/// A per-step callback for adapter methods with schedules (AdaLoRA's rank budget, IncreLoRA, SaRA...). The training
/// loop (or the user) calls <see cref="PeftModel.OnStep"/> after the backward pass and the optimiser step and before
/// the gradients are cleared, so a hook can read both the parameters and their gradients.
/// </summary>
public interface IStepHook
{
    /// <summary>Called once per training step with the step number (0-based) and the adapted model.</summary>
    void OnStep(int step, PeftModel model);
}
