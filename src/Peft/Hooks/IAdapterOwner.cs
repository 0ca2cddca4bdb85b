namespace Engine.Peft;

/// <summary>
/// A model part whose adapter is built from other adapters of the model (X-LoRA's LoRA experts): the owned adapters
/// are ordinary adapters (their own configs, layers and files), but they follow their owner. They contribute in the
/// layers whenever the owner is active, train only when the owner trains and <see cref="OwnedAdaptersTrain"/>, are
/// deleted with the owner, and are saved by it into subfolders of its folder (not separately by
/// <see cref="PeftModel.SavePretrained(string, string[])"/>).
/// </summary>
public interface IAdapterOwner
{
    /// <summary>The owned adapters in order, each with the subfolder of the owner's folder its files are saved in.</summary>
    IReadOnlyList<(string Adapter, string Subfolder)> OwnedAdapters { get; }

    /// <summary>True when the owned adapters train with the owner (X-LoRA's <c>use_trainable_adapters</c>).</summary>
    bool OwnedAdaptersTrain { get; }
}
