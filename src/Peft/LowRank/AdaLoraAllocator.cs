namespace Engine.Peft.LowRank;

/// <summary>
/// AdaLoRA's rank allocator as a step hook (Zhang et al. 2023, section 3.2-3.3; PEFT's <c>RankAllocator</c> and
/// <c>update_and_allocate</c>). Each step before T - t_final it smooths the sensitivity I = |w * grad w| of every
/// entry of P, lambda, Q (Ibar = beta1 Ibar + (1 - beta1) I; U = beta2 U + (1 - beta2) |I - Ibar|), scores each triplet
/// S_i = s(lambda_i) + mean_j s(Q_ij) + mean_k s(P_ki) with s = Ibar U, and when the schedule says so keeps the
/// b(t) best triplets across all layers, zeroing lambda of the rest. At T - t_final the kept pattern is fixed and
/// written to the config's rank pattern; afterwards it is re-applied every step.
/// </summary>
public sealed class AdaLoraAllocator : IStepHook
{
    readonly Dictionary<Tensor, (Tensor Ibar, Tensor Ubar)> _ema = new(ReferenceEqualityComparer.Instance);

    readonly double _beta1, _beta2;

    /// <summary>The allocator of adapter <paramref name="adapterName"/> with the EMA coefficients of sensitivity and uncertainty.</summary>
    public AdaLoraAllocator(string adapterName, double beta1 = 0.85, double beta2 = 0.85)
    {
        AdapterName = adapterName;
        _beta1 = beta1;
        _beta2 = beta2;
    }

    /// <summary>The adapter whose ranks are allocated.</summary>
    public string AdapterName { get; }

    /// <summary>The budget of the last step that masked, or null before any.</summary>
    public int? LastBudget { get; private set; }

    /// <inheritdoc/>
    public void OnStep(int step, PeftModel model)
    {
        if (!model.PeftConfigs.TryGetValue(AdapterName, out var c) || c is not AdaLoraConfig config) return;
        config.Validate();
        var layers = model.AdapterLayers().Where(l => l.Layer is AdaLoraLayer a && a.AdapterNames.Contains(AdapterName))
            .Select(l => (Path: model.PathOf(l.Path), Layer: (AdaLoraLayer)l.Layer)).ToList();
        int final = config.TotalStep - config.Tfinal;
        if (step > final)
        {
            foreach (var (path, layer) in layers)
                if (config.MaskFor(path) is { } keep && keep.Length == layer.LoraE(AdapterName).Size(0)) layer.Mask(AdapterName, keep);
            return;
        }
        if (step < final) UpdateImportance(layers.Select(l => l.Layer));
        var schedule = new AdaLoraBudgetSchedule(config.InitR * layers.Count, config.TargetR * layers.Count, config.Tinit, config.Tfinal, config.TotalStep, config.DeltaT);
        var (budget, mask) = schedule.At(step);
        if (!mask && step != final) return;
        var pattern = MaskToBudget(layers, budget);
        LastBudget = budget;
        model.UpdateConfig(AdapterName, config with { RankPattern = pattern });
        // PEFT clears the importance EMAs once the pattern is fixed.
        if (step == final) _ema.Clear();
    }

    void UpdateImportance(IEnumerable<AdaLoraLayer> layers)
    {
        foreach (var layer in layers)
            foreach (var (_, p) in layer.AdapterTensors(AdapterName))
            {
                if (p.Grad is null) continue;
                using (Autograd.Autograd.NoGrad())
                {
                    var sensitivity = (p.Detach() * p.Grad).Abs();
                    var (ibar, ubar) = _ema.TryGetValue(p, out var e) ? e : (p.ZerosLike(), p.ZerosLike());
                    var newIbar = ibar * _beta1 + sensitivity * (1 - _beta1);
                    var newUbar = ubar * _beta2 + (sensitivity - newIbar).Abs() * (1 - _beta2);
                    _ema[p] = (newIbar, newUbar);
                }
            }
    }

    /// <summary>Triplet scores of one layer [r].</summary>
    double[] TripletScores(AdaLoraLayer layer)
    {
        double[] Score(Tensor p) => _ema.TryGetValue(p, out var e) ? (e.Ibar * e.Ubar).ToDoubleArray() : new double[p.Numel];
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
}
