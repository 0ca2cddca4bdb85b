namespace Engine.Nn;

public sealed partial class Gpt
{
    /// <inheritdoc/>
    public int HiddenSize => Config.DModel;

    /// <summary>Token ids [B, T] to the final LayerNorm's output [B, T, C] (Hugging Face's <c>hidden_states[-1]</c>), without the head.</summary>
    public Tensor LastHiddenState(Tensor ids)
    {
        if (ids.Rank != 2) throw new ArgumentException($"Gpt: expects token ids [batch, time], got {Shapes.Format(ids.Shape)}");
        return FinalHidden(Child("tok").Forward(ids), null, null);
    }
}
