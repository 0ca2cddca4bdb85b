using Engine.Peft.LowRank;

namespace Engine.Peft.Growth;

/// <summary>
/// TriAdaptLoRA's model-level part (arXiv 2501.08008; <c>triadaptlora.py</c> <c>RankAllocator</c> and
/// <c>TriAdaptLoraModel.forward</c>; spec adapters-lowrank.md section 2). At steps t &gt; init_warmup with
/// t mod incre_interval = 0, while the total rank is below the budget, it scores every module by the change of
/// ||C||_F / #blocks since the last evaluation, picks the K best (<see cref="TriAdaptLoraConfig.ModulesToGrow"/>) and
/// appends a block of incre_rank_num ranks to each (<see cref="RankGrowth"/>: within the budget, the new tensors a new
/// optimiser group). The block sizes, ranks and last norms are written to the config so a save reloads exactly. As a
/// regulariser it adds orth_reg_weight times the mean over modules of ||A A^T - I||_F and ||B^T B - I||_F on the
/// concatenated A and B.
/// </summary>
public sealed class TriAdaptLoraModelPart(AdapterModelPartContext context) : AdapterModelPart(context), ITrainingPhaseHook, ILossRegularizer
{
    /// <summary>The scores of the last growth evaluation by module path, or empty.</summary>
    public IReadOnlyDictionary<string, double> LastScores { get; private set; } = new Dictionary<string, double>();

    /// <summary>The modules grown at the last growth evaluation.</summary>
    public IReadOnlyList<string> LastGrown { get; private set; } = [];

    /// <inheritdoc/>
    public Tensor? Regularizer(PeftModel model)
    {
        if (!model.PeftConfigs.TryGetValue(AdapterName, out var c) || c is not TriAdaptLoraConfig { InferenceMode: false, OrthRegWeight: > 0 } config) return null;
        var factors = new List<(Tensor, bool)>();
        foreach (var (_, layer) in Layers(model))
        {
            factors.Add((layer.AllA(AdapterName), true));
            factors.Add((layer.AllB(AdapterName), false));
        }
        return factors.Count == 0 ? null : AdaLoraOrthogonality.MeanDeviation(factors) * config.OrthRegWeight;
    }

    /// <inheritdoc/>
    public void BeforeForward(int step, PeftModel model) { }

    /// <summary>After backward and clipping, before the optimiser step, as the reference calls its allocator.</summary>
    public void AfterBackward(int step, PeftModel model) => Advance(step, model);

    /// <summary>One step of the rank allocator (<c>update_and_increase</c>); see the class summary.</summary>
    public void Advance(int step, PeftModel model)
    {
        if (!model.PeftConfigs.TryGetValue(AdapterName, out var c) || c is not TriAdaptLoraConfig { InferenceMode: false } config) return;
        var layers = Layers(model);
        if (layers.Count == 0) return;
        int budget = config.Budget(layers.Count);
        int total = layers.Sum(l => l.Layer.Rank(AdapterName));
        LastGrown = [];
        if (total >= budget || step <= config.InitWarmup || step % config.IncreInterval != 0) return;
        var scores = layers.Select(l => l.Layer.ComputeScore(AdapterName)).ToList();
        LastScores = Enumerable.Range(0, layers.Count).ToDictionary(i => layers[i].Path.External, i => scores[i]);
        int k = config.ModulesToGrow(step, total, budget, layers.Count);
        var selected = RankGrowth.SelectTop(scores, k);
        var allot = RankGrowth.Allot(selected.Count, config.AddR, budget - total);
        var grown = new List<Tensor>();
        var names = new List<string>();
        for (int i = 0; i < selected.Count; i++)
        {
            if (allot[i] == 0) continue;
            var (path, layer) = layers[selected[i]];
            grown.AddRange(layer.AddBlock(AdapterName, config, allot[i]));
            names.Add(path.External);
        }
        RankGrowth.Register(model, grown, step, config.WeightDecay, $"{AdapterName}.grown.{step}");
        LastGrown = names;
        model.UpdateConfig(AdapterName, config with
        {
            RankPattern = layers.ToDictionary(l => l.Path.External, l => l.Layer.Rank(AdapterName)),
            BlockPattern = layers.ToDictionary(l => l.Path.External, l => l.Layer.BlockSizes(AdapterName).ToArray()),
            NormPattern = layers.ToDictionary(l => l.Path.External, l => l.Layer.LastNorm(AdapterName)),
        });
    }

    List<(ModulePath Path, TriAdaptLoraLayer Layer)> Layers(PeftModel model) => model.AdapterLayers()
        .Where(l => l.Layer is TriAdaptLoraLayer a && a.AdapterNames.Contains(AdapterName))
        .Select(l => (model.PathOf(l.Path), (TriAdaptLoraLayer)l.Layer)).ToList();
}
