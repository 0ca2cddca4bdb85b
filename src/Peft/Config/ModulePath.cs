namespace Engine.Peft;

/// <summary>
/// Where a module sits, under both names: <see cref="Engine"/> is the dotted path in the engine's model
/// (<c>blocks.0.attn.qkv</c>); <see cref="External"/> is the path Hugging Face PEFT uses in its files and configs
/// (<c>transformer.h.0.attn.c_attn</c> for a GPT-2), given by the model's <see cref="IExternalModuleNames"/>.
/// Target patterns match either name, so a PEFT config written for the Hugging Face model applies unchanged.
/// </summary>
/// <param name="Engine">Dotted module path in the engine's model.</param>
/// <param name="External">Module path in Hugging Face PEFT's files.</param>
public readonly record struct ModulePath(string Engine, string External)
{
    /// <summary>Both names, without duplicates.</summary>
    public IEnumerable<string> Names => Engine == External ? [Engine] : [Engine, External];
}
