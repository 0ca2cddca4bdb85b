namespace Engine.Peft;

/// <summary>
/// A method whose tensors are shared by all its layers and stored once on the adapted model (VeRA's frozen random
/// bases, prompt tuning's virtual tokens, NOLA's and MoS's pools), with the keys they have in PEFT's files.
/// </summary>
public interface ISharedTensorOwner
{
    /// <summary>
    /// The shared tensors with their full file keys (<c>base_model.vera_A</c>, <c>prompt_embeddings</c>) and whether
    /// they are written to the file (VeRA's <c>save_projection</c>). A loaded file must hold every tensor marked saved.
    /// </summary>
    IEnumerable<SharedTensor> SharedTensors();
}

/// <summary>A shared tensor of an adapter under its file key.</summary>
/// <param name="Key">Full key in <c>adapter_model.safetensors</c>.</param>
/// <param name="Tensor">The live tensor (a parameter when it trains, a buffer when frozen).</param>
/// <param name="Saved">True when files carry it.</param>
/// <param name="Trainable">True when it trains with the adapter.</param>
public readonly record struct SharedTensor(string Key, Tensor Tensor, bool Saved, bool Trainable);
