namespace Engine.Peft.Routed;

/// <summary>
/// FlyLoRA's multi-task merge (arXiv 2510.08396, section on inter-task interference; spec adapters-lowrank.md
/// section 11): adapters trained on different tasks from the same seed share every layer's frozen A, so one adapter
/// whose B is the weighted sum of theirs stands for all. The balance biases d are combined with the same weights (the
/// paper merges B only; d only steers the routing and starts at zero).
/// </summary>
public static class FlyLoraTaskMerge
{
    /// <summary>
    /// Adds adapter <paramref name="newName"/> with B = Σ w_i B_i and d = Σ w_i d_i over <paramref name="adapters"/>
    /// (the configuration of the first; weights default to 1/n: the average).
    /// </summary>
    /// <exception cref="ArgumentException">An adapter is not FlyLoRA, the ranks differ, or a layer's A differs (different seeds).</exception>
    public static void AddMergedAdapter(this PeftModel peft, IReadOnlyList<string> adapters, string newName, IReadOnlyList<double>? weights = null)
    {
        if (adapters.Count == 0) throw new ArgumentException("FlyLoraTaskMerge: no adapters to merge");
        weights ??= adapters.Select(_ => 1.0 / adapters.Count).ToList();
        if (weights.Count != adapters.Count) throw new ArgumentException($"FlyLoraTaskMerge: {adapters.Count} adapters but {weights.Count} weights");
        var configs = adapters.Select(a => peft.PeftConfigs.TryGetValue(a, out var c) && c is FlyLoraConfig f ? f
            : throw new ArgumentException($"FlyLoraTaskMerge: '{a}' is not a FlyLoRA adapter of this model")).ToList();
        if (configs.Any(c => c.R != configs[0].R || c.TopK != configs[0].TopK || c.LoraAlpha != configs[0].LoraAlpha))
            throw new ArgumentException("FlyLoraTaskMerge: the adapters differ in r, top_k or lora_alpha");
        var layers = peft.AdapterLayers().Where(l => l.Layer is FlyLoraLayer f && f.AdapterNames.Contains(adapters[0])).ToList();
        foreach (var (path, layer) in layers)
        {
            var fly = (FlyLoraLayer)layer;
            foreach (var a in adapters.Skip(1))
                if (!fly.AdapterNames.Contains(a) || (fly.A(a) - fly.A(adapters[0])).Abs().Sum().Item() != 0)
                    throw new ArgumentException($"FlyLoraTaskMerge: at '{path}' adapter '{a}' has another A than '{adapters[0]}'; merge needs adapters of one seed");
        }
        peft.AddAdapter(newName, configs[0]);
        using var _ = Autograd.Autograd.NoGrad();
        foreach (var (_, layer) in layers)
        {
            var fly = (FlyLoraLayer)layer;
            fly.A(newName).CopyFrom(fly.A(adapters[0]));
            fly.B(newName).CopyFrom(Sum(adapters.Select((a, i) => fly.B(a) * weights[i])));
            fly.D(newName).CopyFrom(Sum(adapters.Select((a, i) => fly.D(a) * weights[i])));
        }
    }

    static Tensor Sum(IEnumerable<Tensor> terms) => terms.Aggregate((a, b) => a + b);
}
