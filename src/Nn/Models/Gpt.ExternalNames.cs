namespace Engine.Nn;

// The Hugging Face names of the GPT's modules, for adapter files and target patterns written against GPT-2.
public sealed partial class Gpt : IExternalModuleNames
{
    /// <summary>
    /// The Hugging Face <c>GPT2LMHeadModel</c> path of an engine module path, through <see cref="Gpt2Checkpoint.HfName"/>:
    /// <c>blocks.0.attn.qkv</c> → <c>transformer.h.0.attn.c_attn</c>, <c>blocks.0.attn</c> → <c>transformer.h.0.attn</c>, <c>head</c> → <c>lm_head</c>. Paths that are not
    /// GPT-2 modules (the block list, a block, S4D or DeltaProduct mixers) keep their engine name.
    /// </summary>
    public string ExternalPath(string enginePath)
    {
        // A block's attention and MLP containers (GPT-2's h.i.attn, h.i.mlp: PEFT's adaption prompt wraps the attention).
        var container = BlockContainer().Match(enginePath);
        if (container.Success) return $"transformer.h.{container.Groups[1].Value}.{container.Groups[2].Value}";
        string hf;
        try { hf = Gpt2Checkpoint.HfName(enginePath + ".weight"); }
        catch (ArgumentException) { return enginePath; }
        hf = hf[..^".weight".Length];
        // GPT2LMHeadModel holds the body under "transformer" and the head beside it.
        return hf == "lm_head" ? hf : "transformer." + hf;
    }

    /// <summary>True for the layers GPT-2 keeps as Conv1D (weight stored [in, out]): c_attn, c_proj, c_fc.</summary>
    public bool IsConv1D(string enginePath) => Gpt2Checkpoint.IsConv1DWeight(enginePath + ".weight");

    [System.Text.RegularExpressions.GeneratedRegex(@"^blocks\.(\d+)\.(attn|mlp)$")]
    private static partial System.Text.RegularExpressions.Regex BlockContainer();
}
