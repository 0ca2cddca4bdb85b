using Engine.Peft.LowRank;

namespace Engine.Peft.Growth;

/// <summary>
/// IncreLoRA's model-level part (arXiv 2308.12043; <c>increlora.py</c> <c>RankAllocator.update_and_increase</c> and
/// <c>compute_orth_regu</c>; spec adapters-lowrank.md section 1). Each training step, while the total rank is below
/// the budget: tops every module up to <see cref="IncreLoraConfig.AddR"/> reserve blocks (the reference adds them at
/// step 0), smooths each module's score s = sum |ΔW * dL/dΔW| / sqrt(out in) (<see cref="ImportanceTracker"/>: Ibar U),
/// and at steps t &gt; init_warmup with t mod incre_interval = 0 grows the modules whose score is among the top_h
/// (<see cref="RankGrowth"/>): their reserves become active, new reserves are appended, and the new tensors join the
/// optimiser as a new group. When the budget is reached the remaining reserves' lambda is set to 0. The grown ranks and
/// reserves are written to the config (rank_pattern, reserve_pattern) so a save reloads exactly. As a regulariser it
/// adds orth_reg_weight times the mean over every block tensor of ||a a^T - I||_F and ||b^T b - I||_F.
/// </summary>
public sealed class IncreLoraModelPart(AdapterModelPartContext context) : AdapterModelPart(context), ITrainingPhaseHook, ILossRegularizer
{
    readonly ImportanceTracker _importance = new(((IncreLoraConfig)context.Config).Beta1, ((IncreLoraConfig)context.Config).Beta2);

    /// <summary>The smoothed score Ibar * U of <paramref name="layer"/> (0 before any gradient was seen).</summary>
    public double Score(IncreLoraLayer layer) => _importance.ScalarScore(layer);

    /// <summary>The modules chosen at the last growth step (paths), or empty.</summary>
    public IReadOnlyList<string> LastGrown { get; private set; } = [];

    /// <inheritdoc/>
    public Tensor? Regularizer(PeftModel model)
    {
        if (!model.PeftConfigs.TryGetValue(AdapterName, out var c) || c is not IncreLoraConfig { InferenceMode: false, OrthRegWeight: > 0 } config) return null;
        var factors = new List<(Tensor, bool)>();
        foreach (var (_, layer) in Layers(model))
            for (int k = 0; k < layer.Blocks(AdapterName); k++)
            {
                factors.Add((layer.LoraA(AdapterName, k), true));
                factors.Add((layer.LoraB(AdapterName, k), false));
            }
        return factors.Count == 0 ? null : AdaLoraOrthogonality.MeanDeviation(factors) * config.OrthRegWeight;
    }

    /// <inheritdoc/>
    public void BeforeForward(int step, PeftModel model) { }

    /// <summary>After backward and clipping, before the optimiser step, as the reference calls its allocator.</summary>
    public void AfterBackward(int step, PeftModel model) => Advance(step, model);

    /// <summary>One step of the rank allocator (scores, growth, new optimiser groups); see the class summary.</summary>
    public void Advance(int step, PeftModel model)
    {
        if (!model.PeftConfigs.TryGetValue(AdapterName, out var c) || c is not IncreLoraConfig { InferenceMode: false } config) return;
        var layers = Layers(model);
        if (layers.Count == 0) return;
        int budget = config.Budget(layers.Count);
        int total = layers.Sum(l => l.Layer.Ranknum(AdapterName));
        if (total >= budget) return;
        int addR = config.AddR;
        var fresh = new List<Tensor>();
        foreach (var (_, layer) in layers)
            if (layer.Reserves(AdapterName) < addR) fresh.AddRange(layer.AddReserves(AdapterName, config, addR - layer.Reserves(AdapterName)));
        bool changed = fresh.Count > 0 || layers.Any(l => l.Layer.Reserves(AdapterName) != config.ReservesOf(l.Path));
        RankGrowth.Register(model, fresh, step, config.WeightDecay, $"{AdapterName}.reserves.{step}");

        foreach (var (_, layer) in layers)
            if (layer.TakeScore(AdapterName) is { } s) _importance.Update(layer, s);
        LastGrown = [];
        if (step > config.InitWarmup && step % config.IncreInterval == 0)
        {
            var scores = layers.Select(l => _importance.ScalarScore(l.Layer)).ToList();
            var selected = RankGrowth.SelectTop(scores, Math.Min(config.TopH, budget - total));
            var allot = RankGrowth.Allot(selected.Count, addR, budget - total);
            var grown = new List<Tensor>();
            var names = new List<string>();
            for (int i = 0; i < selected.Count; i++)
            {
                if (allot[i] == 0) continue;
                var (path, layer) = layers[selected[i]];
                grown.AddRange(layer.Activate(AdapterName, config, allot[i]));
                grown.AddRange(layer.AddReserves(AdapterName, config, addR - layer.Reserves(AdapterName)));
                total += allot[i];
                names.Add(path.External);
            }
            // Budget reached: the reference removes the score hooks and zeroes the reserves' lambda.
            if (total >= budget) foreach (var (_, layer) in layers) layer.ZeroReserves(AdapterName);
            RankGrowth.Register(model, grown, step, config.WeightDecay, $"{AdapterName}.grown.{step}");
            LastGrown = names;
            changed |= names.Count > 0;
        }
        if (changed)
            model.UpdateConfig(AdapterName, config with
            {
                RankPattern = layers.ToDictionary(l => l.Path.External, l => l.Layer.Ranknum(AdapterName)),
                ReservePattern = layers.ToDictionary(l => l.Path.External, l => l.Layer.Reserves(AdapterName)),
            });
    }

    List<(ModulePath Path, IncreLoraLayer Layer)> Layers(PeftModel model) => model.AdapterLayers()
        .Where(l => l.Layer is IncreLoraLayer a && a.AdapterNames.Contains(AdapterName))
        .Select(l => (model.PathOf(l.Path), (IncreLoraLayer)l.Layer)).ToList();
}
