namespace Engine.Peft.Retrieval;

/// <summary>
/// One adapted module of a LoRA as the AutoLoRA retriever reads it (spec seeds-remaining.md §1a): its layer index,
/// module type index ({q, k, v, o, fc1, fc2} or any fixed numbering), A [r, in], B [out, r] and the scale α/r.
/// </summary>
/// <param name="Layer">Layer index (0-based, below the encoder's layer count).</param>
/// <param name="ModuleType">Module type index (0-based, below the encoder's module type count).</param>
/// <param name="A">Down factor A [r, in].</param>
/// <param name="B">Up factor B [out, r].</param>
/// <param name="Scaling">α/r.</param>
public sealed record LoraModuleWeights(int Layer, int ModuleType, Tensor A, Tensor B, double Scaling)
{
    /// <summary>Reads every plain-LoRA adapter layer of <paramref name="layers"/> for adapter <paramref name="name"/>; <paramref name="describe"/> maps a layer's position in the list to (layer index, module type).</summary>
    public static IReadOnlyList<LoraModuleWeights> FromLayers(IReadOnlyList<LowRank.LoraLayer> layers, string name, Func<int, (int Layer, int ModuleType)> describe)
    {
        var modules = new List<LoraModuleWeights>(layers.Count);
        for (int i = 0; i < layers.Count; i++)
        {
            var (layer, type) = describe(i);
            modules.Add(new LoraModuleWeights(layer, type, layers[i].LoraA(name).Detach(), layers[i].LoraB(name).Detach(), layers[i].Settings(name).Scaling));
        }
        return modules;
    }
}
