namespace Engine.Peft;

/// <summary>What an adapter method can do or needs, as the registry reports it (for the laws, the CLI and the docs).</summary>
[Flags]
public enum AdapterCapabilities
{
    /// <summary>Nothing beyond a forward pass.</summary>
    None = 0,

    /// <summary>Can be folded into the base weights.</summary>
    Mergeable = 1,

    /// <summary>The adapted model equals the base at initialisation.</summary>
    StartsAtBase = 2,

    /// <summary>Holds tensors shared by all its layers on the model (<see cref="ISharedTensorOwner"/>).</summary>
    SharesTensors = 4,

    /// <summary>Changes the model's inputs rather than its layers (<see cref="IInputAdapter"/>).</summary>
    InputSide = 8,

    /// <summary>Has a per-step schedule (<see cref="IStepHook"/>).</summary>
    StepSchedule = 16,

    /// <summary>Adds a term to the training loss (<see cref="ILossRegularizer"/>).</summary>
    LossTerm = 32,
}
