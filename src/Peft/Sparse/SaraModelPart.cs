namespace Engine.Peft.Sparse;

/// <summary>
/// SaRA's model-level part (sjtuplayer/SaRA <c>optim/adamw2.py</c>): the learning rate of the trained entries
/// (<see cref="IParamGroupSource"/>), the nuclear-norm regulariser λ ‖W ⊙ M‖_* on one weight drawn at random each
/// step among the targeted weights with min(out, in) &gt; <see cref="SaraConfig.NuclearMinDim"/> and more than 100
/// trained entries (the reference's <c>low_rank_ids</c> and <c>mask.sum() &gt; 100</c>), and progressive
/// re-selection: after step <see cref="SaraConfig.ProgressiveIter"/> the trained set becomes P ∩ {|W_t| &lt; θ}
/// (adamw2's <c>update_mask</c>, an intersection), the entries that left it frozen where they are.
/// </summary>
public sealed class SaraModelPart(AdapterModelPartContext context) : AdapterModelPart(context), IStepHook, ILossRegularizer, IParamGroupSource
{
    readonly Generator _generator = context.CreateGenerator();

    /// <summary>The path of the weight the regulariser took at its last call, or null.</summary>
    public string? LastRegularized { get; private set; }

    SaraConfig? ConfigIn(PeftModel model) => model.PeftConfigs.TryGetValue(AdapterName, out var c) ? c as SaraConfig : null;

    List<(string Path, SaraLayer Layer)> Layers(PeftModel model) => model.AdapterLayers()
        .Where(l => l.Layer is SaraLayer s && s.AdapterNames.Contains(AdapterName))
        .Select(l => (l.Path, (SaraLayer)l.Layer)).ToList();

    /// <inheritdoc/>
    public IEnumerable<ParamGroup> ParamGroups(PeftModel model, double lr, double weightDecay)
    {
        if (ConfigIn(model) is not { } c) return [];
        var values = Layers(model).Select(l => l.Layer.Values(AdapterName)).Where(v => v.RequiresGrad).ToList();
        return [new ParamGroup(values, c.LearningRate(lr), weightDecay, "sara")];
    }

    /// <inheritdoc/>
    public Tensor? Regularizer(PeftModel model)
    {
        if (ConfigIn(model) is not { InferenceMode: false, LambdaRank: > 0 } c) return null;
        var candidates = Layers(model).Where(l => Math.Min(l.Layer.OutFeatures, l.Layer.InFeatures) > c.NuclearMinDim && !l.Layer.Merged).ToList();
        if (candidates.Count == 0) return null;
        var pick = candidates[Math.Min(candidates.Count - 1, (int)(Tensor.Rand([1], generator: _generator).Item() * candidates.Count))];
        LastRegularized = pick.Path;
        if (pick.Layer.Positions(AdapterName).Size(0) <= 100) return null;
        return new NuclearNorm().Apply(pick.Layer.MaskedWeight(AdapterName)) * c.LambdaRank;
    }

    /// <inheritdoc/>
    public void OnStep(int step, PeftModel model)
    {
        // Step `step` (0-based) was the (step + 1)-th optimiser step: adamw2 re-selects at inner_iter = progressive_iter + 1,
        // before that step's update; the engine freezes after step progressive_iter, which is the same point.
        if (ConfigIn(model) is not { InferenceMode: false, ProgressiveIter: >= 0 } c || step + 1 != c.ProgressiveIter) return;
        using var _ = Autograd.Autograd.NoGrad();
        foreach (var (_, layer) in Layers(model))
        {
            var positions = layer.Positions(AdapterName).ToArray<long>();
            var current = SparseDelta.Gather(layer.BaseLayer.Weight.Detach(), layer.Positions(AdapterName)).ToDoubleArray();
            var values = layer.Values(AdapterName).Detach().ToDoubleArray();
            var leaving = Enumerable.Range(0, positions.Length).Where(i => !(Math.Abs(current[i] + values[i]) < c.Threshold)).Select(i => (long)i).ToArray();
            layer.Freeze(AdapterName, leaving);
        }
    }
}
