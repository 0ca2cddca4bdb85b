namespace Engine.Peft.Growth;

/// <summary>
/// Names of the per-block containers of the growing methods (IncreLoRA, TriAdaptLoRA): block k of kind <c>lora_A</c>
/// lives in container <c>lora_A_k</c> and is saved under <c>lora_A.k</c>, the key of a torch ParameterList entry, as
/// the reference codes hold their blocks.
/// </summary>
static class GrowingBlocks
{
    /// <summary>The container of block <paramref name="k"/> of <paramref name="kind"/>.</summary>
    public static string Container(string kind, int k) => $"{kind}_{k}";

    /// <summary>The file key of a block container (<c>lora_A_3</c> → <c>lora_A.3</c>); other names unchanged.</summary>
    public static string FileKey(string container)
    {
        int i = container.LastIndexOf('_');
        return i > 0 && i < container.Length - 1 && container[(i + 1)..].All(char.IsAsciiDigit) ? container[..i] + "." + container[(i + 1)..] : container;
    }
}
