namespace Engine.Peft.Prompt;

/// <summary>Prompt tuning's trainable virtual token embeddings P [n, width] (registered as <c>weight</c>).</summary>
public sealed class PromptEmbedding : Module
{
    /// <summary>P starting at <paramref name="initial"/>.</summary>
    public PromptEmbedding(Tensor initial) => RegisterParameter("weight", initial.Detach().Clone());

    /// <summary>P [n, width].</summary>
    public Tensor Weight => GetParameter("weight");
}
