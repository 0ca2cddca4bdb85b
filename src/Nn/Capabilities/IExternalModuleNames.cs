namespace Engine.Nn;

/// <summary>
/// A model whose modules have other names outside the engine, in the files of the library it mirrors (Hugging Face
/// GPT-2: <c>blocks.0.attn.qkv</c> is <c>transformer.h.0.attn.c_attn</c>). Adapter files and target patterns use
/// these names; a model without a counterpart simply does not implement this interface.
/// </summary>
public interface IExternalModuleNames
{
    /// <summary>The external module path of an engine module path (the engine path when it has no other name).</summary>
    string ExternalPath(string enginePath);

    /// <summary>True when the external library stores this layer's weight transposed, [in, out] (GPT-2's Conv1D).</summary>
    bool IsConv1D(string enginePath);
}
