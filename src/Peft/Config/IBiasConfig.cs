namespace Engine.Peft;

/// <summary>
/// A configuration with PEFT's <c>bias</c> field: which biases of the base model train with the adapter
/// (<see cref="TrainedBiases"/>): "none", "all", or "&lt;prefix&gt;_only" (<c>lora_only</c>, <c>vera_only</c>...).
/// </summary>
public interface IBiasConfig
{
    /// <summary>"none", "all" or a value ending in "_only".</summary>
    string Bias { get; }
}
