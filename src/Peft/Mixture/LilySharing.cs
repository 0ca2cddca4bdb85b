namespace Engine.Peft.Mixture;

/// <summary>
/// Lily's sharing across layers (PEFT's <c>LilyModel._post_injection_hook</c>): once every layer has its own A, B and
/// router, the adapted layers are grouped, in model order, by (matched target suffix, weight shape); every layer of a
/// group uses the group's first B, and each block of <c>stride_A</c> consecutive layers of a group uses its first
/// layer's A. Shared tensors are one tensor under several file keys: files hold a copy under every layer's path (as
/// PEFT's), and a load requires the copies to agree (<see cref="AdapterFiles.Load"/>).
/// </summary>
public sealed class LilySharing(AdapterModelPartContext context) : AdapterModelPart(context)
{
    /// <inheritdoc/>
    public override void OnLayersCreated(PeftModel model)
    {
        var c = (LilyConfig)Config;
        var groups = new Dictionary<(string Suffix, int Out, int In), List<LilyLayer>>();
        var order = new List<(string, int, int)>();
        foreach (var (path, layer) in model.AdapterLayers())
        {
            if (layer is not LilyLayer lily || !lily.AdapterNames.Contains(AdapterName)) continue;
            var key = (Suffix(c, model.PathOf(path)), lily.OutFeatures, lily.InFeatures);
            if (!groups.TryGetValue(key, out var list)) { groups[key] = list = []; order.Add(key); }
            list.Add(lily);
        }
        foreach (var key in order)
        {
            var layers = groups[key];
            var sharedB = layers[0].B(AdapterName);
            for (int i = 1; i < layers.Count; i++)
            {
                int leader = i / c.StrideA * c.StrideA;
                layers[i].Share(AdapterName, leader == i ? null : layers[leader].A(AdapterName), sharedB);
            }
        }
    }

    // PEFT keys a group by the regex itself when target_modules is a string, else by the target name the module's path
    // ends with (PEFT iterates a set and keeps the last match; the engine keeps the last match in list order, and also
    // tries the engine's own path, which its targets may name). A module matched otherwise is keyed by its last name.
    static string Suffix(LilyConfig c, ModulePath path)
    {
        if (c.TargetModules is { Pattern: { } pattern }) return pattern;
        string? matched = null;
        foreach (var name in c.TargetModules?.Names ?? [])
            if (path.External.EndsWith(name, StringComparison.Ordinal) || path.Engine.EndsWith(name, StringComparison.Ordinal)) matched = name;
        return matched ?? path.Engine[(path.Engine.LastIndexOf('.') + 1)..];
    }
}
