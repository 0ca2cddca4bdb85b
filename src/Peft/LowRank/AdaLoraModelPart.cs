using Engine.Peft.Growth;

namespace Engine.Peft.LowRank;

/// <summary>
/// AdaLoRA's model-level part (Zhang et al. 2023, sections 3.2-3.3; PEFT's <c>RankAllocator</c> and
/// <c>update_and_allocate</c>). As a step hook, each step before T - t_final it smooths the sensitivity I = |w * grad w|
/// of every entry of P, lambda, Q (Ibar = beta1 Ibar + (1 - beta1) I; U = beta2 U + (1 - beta2) |I - Ibar|), scores each
/// triplet S_i = s(lambda_i) + mean_j s(Q_ij) + mean_k s(P_ki) with s = Ibar U, and when the schedule says so keeps
/// the b(t) best triplets across all layers, zeroing lambda of the rest. At T - t_final the kept pattern is fixed and
/// written to the config's rank pattern; afterwards it is re-applied every step. As a regulariser it adds the
/// orthogonality term (<see cref="AdaLoraOrthogonality"/>); when saving, it keeps only the kept triplets.
/// </summary>
public sealed class AdaLoraModelPart(AdapterModelPartContext context) : AdapterModelPart(context), IStepHook, ILossRegularizer, ISaveTransform
{
    readonly ImportanceTracker _ema = new(((AdaLoraConfig)context.Config).Beta1, ((AdaLoraConfig)context.Config).Beta2);

    /// <summary>The budget of the last step that masked, or null before any.</summary>
    public int? LastBudget { get; private set; }

    /// <inheritdoc/>
    public Tensor? Regularizer(PeftModel model) =>
        model.PeftConfigs.TryGetValue(AdapterName, out var c) && c is AdaLoraConfig { InferenceMode: false, OrthRegWeight: > 0 }
            ? AdaLoraOrthogonality.Penalty(model, AdapterName) : null;

    /// <inheritdoc/>
    public void OnStep(int step, PeftModel model)
    {
        if (!model.PeftConfigs.TryGetValue(AdapterName, out var c) || c is not AdaLoraConfig config || config.InferenceMode) return;
        var layers = Layers(model);
        int total = config.TotalStep!.Value;
        int final = total - config.Tfinal;
        if (step > final)
        {
            foreach (var (path, layer) in layers)
                if (config.MaskFor(path) is { } keep && keep.Length == layer.LoraE(AdapterName).Size(0)) layer.Mask(AdapterName, keep);
            return;
        }
        if (step < final) UpdateImportance(layers.Select(l => l.Layer));
        var schedule = new AdaLoraBudgetSchedule(config.InitR * layers.Count, config.TargetR * layers.Count, config.Tinit, config.Tfinal, total, config.DeltaT);
        var (budget, mask) = schedule.At(step);
        if (!mask && step != final) return;
        var pattern = MaskToBudget(layers, budget);
        LastBudget = budget;
        model.UpdateConfig(AdapterName, config with { RankPattern = pattern });
        // PEFT clears the importance EMAs once the pattern is fixed.
        if (step == final) _ema.Clear();
    }

    List<(ModulePath Path, AdaLoraLayer Layer)> Layers(PeftModel model) => model.AdapterLayers()
        .Where(l => l.Layer is AdaLoraLayer a && a.AdapterNames.Contains(AdapterName))
        .Select(l => (model.PathOf(l.Path), (AdaLoraLayer)l.Layer)).ToList();

    void UpdateImportance(IEnumerable<AdaLoraLayer> layers)
    {
        using var _ = Autograd.Autograd.NoGrad();
        foreach (var layer in layers)
            foreach (var p in new[] { layer.LoraA(AdapterName), layer.LoraE(AdapterName), layer.LoraB(AdapterName) })
                if (p.Grad is not null) _ema.Update(p, (p.Detach() * p.Grad).Abs());
    }

    /// <summary>The importance score S_i of each triplet of one layer [r] (0 before any gradient was seen).</summary>
    public double[] TripletScores(AdaLoraLayer layer)
    {
        double[] Score(Tensor p) => _ema.Score(p) is { } s ? s.ToDoubleArray() : new double[p.Numel];
        var a = layer.LoraA(AdapterName);
        var b = layer.LoraB(AdapterName);
        int r = a.Size(0), inF = a.Size(1), outF = b.Size(0);
        var sa = Score(a);
        var se = Score(layer.LoraE(AdapterName));
        var sb = Score(b);
        var scores = new double[r];
        for (int i = 0; i < r; i++)
        {
            double meanA = 0, meanB = 0;
            for (int j = 0; j < inF; j++) meanA += sa[i * inF + j];
            for (int k = 0; k < outF; k++) meanB += sb[k * r + i];
            scores[i] = se[i] + meanA / inF + meanB / outF;
        }
        return scores;
    }

    Dictionary<string, bool[]> MaskToBudget(List<(ModulePath Path, AdaLoraLayer Layer)> layers, int budget)
    {
        var scores = layers.Select(l => TripletScores(l.Layer)).ToList();
        int total = scores.Sum(s => s.Length);
        int prune = total - budget;
        // Prune every triplet scoring at or below the prune-th smallest score (PEFT's kthvalue threshold).
        double threshold = prune > 0 ? scores.SelectMany(s => s).Order().ElementAt(prune - 1) : double.NegativeInfinity;
        var pattern = new Dictionary<string, bool[]>();
        for (int l = 0; l < layers.Count; l++)
        {
            var keep = scores[l].Select(s => !(s <= threshold)).ToArray();
            layers[l].Layer.Mask(AdapterName, keep);
            pattern[layers[l].Path.External + ".lora_E"] = keep;
        }
        return pattern;
    }

    /// <inheritdoc/>
    public (PeftConfig Config, Dictionary<string, Tensor> Tensors) ForSaving(PeftModel model, PeftConfig config, Dictionary<string, Tensor> tensors, bool convertToLora)
    {
        if (config is not AdaLoraConfig { RankPattern: { } rankPattern }) return (config, tensors);
        // PEFT saves only the kept triplets: rows of lora_A and lora_E, columns of lora_B (resize_state_dict_by_rank_pattern).
        var resized = new Dictionary<string, Tensor>(tensors, StringComparer.Ordinal);
        foreach (var (key, mask) in rankPattern)
        {
            string module = AdapterFiles.KeyPrefix + key[..^".lora_E".Length];
            if (!resized.ContainsKey(module + ".lora_E") || resized[module + ".lora_E"].Size(0) != mask.Length) continue;
            var keep = Tensor.FromArray(Enumerable.Range(0, mask.Length).Where(i => mask[i]).Select(i => (long)i).ToArray());
            resized[module + ".lora_A"] = resized[module + ".lora_A"].IndexSelect(0, keep).Contiguous();
            resized[module + ".lora_E"] = resized[module + ".lora_E"].IndexSelect(0, keep).Contiguous();
            resized[module + ".lora_B"] = resized[module + ".lora_B"].IndexSelect(1, keep).Contiguous();
        }
        return (config, resized);
    }
}
