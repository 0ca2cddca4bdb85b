namespace Engine.Peft;

/// <summary>
/// A method that writes a different form than it holds: AdaLoRA saves only the kept triplets of its final rank
/// pattern. Called by <see cref="AdapterFiles.Save"/> with the adapter's configuration and tensors under their file keys.
/// </summary>
public interface ISaveTransform
{
    /// <summary>The configuration and tensors to write.</summary>
    /// <param name="model">The adapted model.</param>
    /// <param name="config">The adapter's configuration.</param>
    /// <param name="tensors">The tensors under their file keys.</param>
    /// <param name="convertToLora">The caller asked for a plain LoRA adapter on the original base weights (PiSSA, OLoRA).</param>
    (PeftConfig Config, Dictionary<string, Tensor> Tensors) ForSaving(PeftModel model, PeftConfig config, Dictionary<string, Tensor> tensors, bool convertToLora);
}
