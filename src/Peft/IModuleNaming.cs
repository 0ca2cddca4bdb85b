namespace Engine.Peft;

/// <summary>
/// Maps the engine's module paths to the paths Hugging Face PEFT writes in <c>adapter_model.safetensors</c>
/// (<c>base_model.model.&lt;path&gt;.lora_A.weight</c>) and says which layers are GPT-2 Conv1D layers, whose
/// PEFT configs carry <c>fan_in_fan_out: true</c>.
/// </summary>
public interface IModuleNaming
{
    /// <summary>The PEFT module path of an engine module path.</summary>
    string ExternalPath(string enginePath);

    /// <summary>True when the Hugging Face model keeps this layer as a Conv1D (weight stored [in, out]).</summary>
    bool IsConv1D(string enginePath);
}

/// <summary>Engine paths used unchanged: the naming of models that have no Hugging Face counterpart.</summary>
public sealed class EngineModuleNaming : IModuleNaming
{
    /// <summary>The one instance.</summary>
    public static readonly EngineModuleNaming Instance = new();

    /// <inheritdoc/>
    public string ExternalPath(string enginePath) => enginePath;

    /// <inheritdoc/>
    public bool IsConv1D(string enginePath) => false;
}

/// <summary>
/// Hugging Face GPT-2 (<c>GPT2LMHeadModel</c>) paths for the engine's <see cref="Gpt"/>, through
/// <see cref="Gpt2Checkpoint.HfName"/>: <c>blocks.0.attn.qkv</c> → <c>transformer.h.0.attn.c_attn</c>,
/// <c>head</c> → <c>lm_head</c>. Paths that are not GPT-2 layers (containers) keep their engine name.
/// </summary>
public sealed class Gpt2ModuleNaming : IModuleNaming
{
    /// <summary>The one instance.</summary>
    public static readonly Gpt2ModuleNaming Instance = new();

    /// <inheritdoc/>
    public string ExternalPath(string enginePath)
    {
        string hf;
        try { hf = Gpt2Checkpoint.HfName(enginePath + ".weight"); }
        catch (ArgumentException) { return enginePath; }
        hf = hf[..^".weight".Length];
        // GPT2LMHeadModel holds the body under "transformer" and the head beside it.
        return hf == "lm_head" ? hf : "transformer." + hf;
    }

    /// <inheritdoc/>
    public bool IsConv1D(string enginePath) => Gpt2Checkpoint.IsConv1DWeight(enginePath + ".weight");
}

/// <summary>Picks the naming of a model.</summary>
public static class ModuleNaming
{
    /// <summary>GPT-2 names for a <see cref="Gpt"/>, engine names otherwise.</summary>
    public static IModuleNaming For(Module model) => model is Gpt ? Gpt2ModuleNaming.Instance : EngineModuleNaming.Instance;
}
