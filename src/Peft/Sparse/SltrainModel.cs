namespace Engine.Peft.Sparse;

/// <summary>
/// SLTrain pre-training of a whole model (the reference's <c>SpLoRaModel</c>, andyjm3/SLTrain <c>splora/splora_model.py</c>):
/// every Linear whose path contains one of the targets (the reference matches substrings: "attn", "mlp") is replaced by
/// an <see cref="SltrainLinear"/> of the same shape; its dense weight is dropped with the old module, not kept. The
/// rest of the model (embeddings, norms, head) stays as it is and trains fully, as in the paper.
/// </summary>
public static class SltrainModel
{
    /// <summary>
    /// Replaces the targeted Linears of <paramref name="model"/> in place; returns their paths. Ω and the initial values
    /// come from <paramref name="generator"/>, layer after layer in module order.
    /// </summary>
    /// <exception cref="ArgumentException">No Linear matches, or a layer is too small for the density.</exception>
    public static IReadOnlyList<string> Reparameterise(Module model, IReadOnlyList<string> targets, SltrainConfig config, Generator generator)
    {
        config.Validate();
        var chosen = model.NamedModules()
            .Where(m => m.Module is Linear && targets.Any(t => m.Name.Contains(t, StringComparison.Ordinal)))
            .Select(m => (m.Name, Linear: (Linear)m.Module)).ToList();
        if (chosen.Count == 0) throw new ArgumentException($"SLTrain: no Linear of the model has a path containing any of [{string.Join(", ", targets)}]");
        var modules = model.NamedModules().ToDictionary(m => m.Name, m => m.Module);
        foreach (var (path, linear) in chosen)
        {
            if (linear.SharesWeight) throw new ArgumentException($"SLTrain: '{path}' shares its weight with another module (a tied head); it cannot be reparameterised");
            int dot = path.LastIndexOf('.');
            var parent = dot < 0 ? model : modules[path[..dot]];
            var replacement = new SltrainLinear(linear.InFeatures, linear.OutFeatures, linear.Bias is not null, config, generator, path);
            replacement.Train(linear.Training);
            parent.ReplaceModule(path[(dot + 1)..], replacement);
        }
        return chosen.Select(c => c.Name).ToList();
    }

    /// <summary>
    /// The state of <paramref name="model"/> with every <see cref="SltrainLinear"/> materialised (the merge of the
    /// method: W = sBA + S by scatter-add, under <c>path.weight</c>, its bias under <c>path.bias</c>), so that the
    /// dense architecture loads it: <c>new Gpt(config).LoadStateDict(SltrainModel.DenseState(model))</c>.
    /// </summary>
    public static Dictionary<string, Tensor> DenseState(Module model)
    {
        using var _ = Autograd.Autograd.NoGrad();
        var state = new Dictionary<string, Tensor>();
        var sltrain = model.NamedModules().Where(m => m.Module is SltrainLinear).ToList();
        var prefixes = sltrain.Select(m => m.Name + ".").ToList();
        foreach (var (name, t) in model.StateDict())
            if (!prefixes.Any(p => name.StartsWith(p, StringComparison.Ordinal))) state[name] = t;
        foreach (var (path, module) in sltrain)
        {
            var layer = (SltrainLinear)module;
            var low = (layer.B % layer.ScaledA()).Detach();
            state[path + ".weight"] = SparseDelta.AddTo(low, layer.Support, layer.Values.Detach());
            if (layer.Bias is { } b) state[path + ".bias"] = b.Detach().Clone();
        }
        return state;
    }
}
