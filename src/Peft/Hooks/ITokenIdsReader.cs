namespace Engine.Peft;

/// <summary>
/// A model part that reads the token ids of the forward passes before its layers run: aLoRA finds its invocation
/// sequence in them (PEFT computes <c>alora_offsets</c> in <c>PeftModel.forward</c> and <c>generate</c> and hands them
/// to every LoRA layer). <see cref="PeftModel.TokenScope"/> calls it for the active adapters; what it read stays in
/// force until the returned scope is disposed: one forward pass (<see cref="PeftModel.Forward"/>) or a whole generation.
/// </summary>
public interface ITokenIdsReader
{
    /// <summary>Reads <paramref name="ids"/> [B, T]; returns the scope of what it found, or null when the adapter needs nothing from them.</summary>
    IDisposable? ReadTokens(PeftModel model, Tensor ids);
}
