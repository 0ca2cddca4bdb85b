namespace Engine.Nn;

/// <summary>
/// A model that can give its last hidden state, the input of its output head (Hugging Face's
/// <c>output_hidden_states=True</c>, <c>hidden_states[-1]</c>): X-LoRA's classifier reads it. Implemented by <see cref="Gpt"/>.
/// </summary>
public interface ILastHiddenStateModel
{
    /// <summary>The width C of the hidden state.</summary>
    int HiddenSize { get; }

    /// <summary>Token ids [B, T] to the last hidden state [B, T, C].</summary>
    Tensor LastHiddenState(Tensor ids);
}
