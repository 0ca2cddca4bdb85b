namespace Engine.Peft.Tests;

/// <summary>
/// Stand-in for <c>PeftModel.NamedAdapterTensors</c>, which is being added to the library: the live, trainable tensors
/// of one adapter keyed exactly as in <c>adapter_model.safetensors</c>. Delete this file when that method is merged.
/// </summary>
static class GoldenAdapterTensors
{
    public static IEnumerable<(string Key, Tensor Tensor)> NamedAdapterTensors(this PeftModel peft, string name)
    {
        foreach (var (path, layer) in peft.AdapterLayers())
        {
            if (!layer.AdapterNames.Contains(name)) continue;
            foreach (var (key, t) in layer.AdapterTensors(name))
                yield return (AdapterFiles.KeyPrefix + peft.Naming.ExternalPath(path) + "." + key, t);
        }
        // Prompt and prefix tuning: one table, saved by PEFT as "prompt_embeddings".
        if (peft.PromptModules.Keys.Contains(name))
            foreach (var t in peft.PromptModules[name].Parameters()) yield return ("prompt_embeddings", t);
    }
}
