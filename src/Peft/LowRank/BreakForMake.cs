using Engine.Autograd;

namespace Engine.Peft.LowRank;

/// <summary>
/// B4M's training around PLP LoRA adapters (<see cref="PlpLoraConfig"/>; ICTMCG/Break-for-make <c>code/train_content.py</c>,
/// <c>train_style.py</c>, <c>train_second_stage.py</c>; spec seeds-remaining.md §2):
/// <list type="number">
/// <item><b>Break</b> (<see cref="Break"/>): two independent runs from one initialisation. The content run trains A's
/// free half on the content data at lr and B's free half on the auxiliary style sets at lr/10 (two AdamW optimisers,
/// each on its own loss); the style run is the mirror.</item>
/// <item><b>Make</b> (<see cref="Make"/>): B_make = B_style, A_make = [A_style[:, :in/2] | A_content[:, in/2:]].</item>
/// <item><b>Stage 2</b> (<see cref="RefineOptimizer"/>): the made adapter fine-tuned on content + style loss with
/// <see cref="AdamWr"/>, one preconditioned step per batch (the stated intent; the released loop clears the gradients first).</item>
/// </list>
/// <code>BreakForMake.Break(content, "b4m", BreakRun.Content, step => contentLoss(step), step => styleAuxLoss(step), new BreakOptions(300));
/// BreakForMake.Make(made, "b4m", style, "b4m", content, "b4m");
/// new Trainer(made, BreakForMake.RefineOptimizer(made, "b4m", 1e-4), new TrainerOptions(300, MaxGradNorm: 1.0)).Run(step => loss(step));</code>
/// </summary>
public static class BreakForMake
{
    /// <summary>The PLP LoRA layers of <paramref name="model"/> holding adapter <paramref name="adapter"/>, by path.</summary>
    /// <exception cref="ArgumentException">No layer holds a PLP LoRA adapter of that name.</exception>
    public static IReadOnlyList<(string Path, PlpLoraLayer Layer)> Layers(PeftModel model, string adapter)
    {
        var layers = model.AdapterLayers().Where(l => l.Layer is PlpLoraLayer p && p.AdapterNames.Contains(adapter))
            .Select(l => (l.Path, (PlpLoraLayer)l.Layer)).ToList();
        if (layers.Count == 0) throw new ArgumentException($"BreakForMake: no layer holds a PLP LoRA adapter named '{adapter}' (adapters: {string.Join(", ", model.AdapterNames)})");
        return layers;
    }

    /// <summary>
    /// One break run of <paramref name="adapter"/> (made active): per step, the primary loss trains the run's own half
    /// (A's free columns for <see cref="BreakRun.Content"/>, B's free rows for <see cref="BreakRun.Style"/>) at
    /// <see cref="BreakOptions.Lr"/>, then the auxiliary loss (the mean over the auxiliary sets, the reference's
    /// multi-correspondence) trains the other half at <see cref="BreakOptions.AuxiliaryLr"/>, each with its own AdamW
    /// and clipping. Returns the last losses.
    /// </summary>
    /// <exception cref="InvalidOperationException">A loss is not finite; the message names the step.</exception>
    public static (double Primary, double Auxiliary) Break(PeftModel model, string adapter, BreakRun run, Func<int, Tensor> primaryLoss, Func<int, Tensor> auxiliaryLoss, BreakOptions options)
    {
        if (options.Steps < 0) throw new ArgumentException($"BreakForMake.Break: steps must be >= 0, got {options.Steps}");
        if (!(options.Lr > 0 && options.AuxiliaryLr > 0)) throw new ArgumentException($"BreakForMake.Break: rates must be positive, got {options.Lr} and {options.AuxiliaryLr}");
        var layers = Layers(model, adapter);
        model.SetAdapter(adapter);
        var a = layers.Select(l => l.Layer.TrainedA(adapter)).ToList();
        var b = layers.Select(l => l.Layer.TrainedB(adapter)).ToList();
        var (own, other) = run == BreakRun.Content ? (a, b) : (b, a);
        var primary = new AdamW([new ParamGroup(own, options.Lr, options.WeightDecay)]);
        var auxiliary = new AdamW([new ParamGroup(other, options.AuxiliaryLr, options.WeightDecay)]);
        (double, double) last = (double.NaN, double.NaN);
        primary.ZeroGrad();
        auxiliary.ZeroGrad();
        for (int step = 0; step < options.Steps; step++)
        {
            model.Train();
            double l1 = StepOn(primary, own, primaryLoss(step), step, "primary", options.MaxGradNorm);
            // Clean: the auxiliary step sees only its own loss. As released: only the primary factor was cleared.
            if (!options.AsReleased) auxiliary.ZeroGrad();
            double l2 = StepOn(auxiliary, other, auxiliaryLoss(step), step, "auxiliary", options.MaxGradNorm);
            if (!options.AsReleased) primary.ZeroGrad();
            last = (l1, l2);
            options.Progress?.Invoke(step + 1, l1, l2);
        }
        primary.ZeroGrad();
        auxiliary.ZeroGrad();
        return last;
    }

    // Backward, clip the optimiser's own parameters, step, clear them.
    static double StepOn(Optimizer optimizer, IEnumerable<Tensor> parameters, Tensor loss, int step, string which, double? maxNorm)
    {
        double value = loss.Item();
        if (!double.IsFinite(value))
            throw new InvalidOperationException($"BreakForMake.Break: the {which} loss at step {step} (0-based) is {value}; lower the rate or check the data");
        loss.Backward();
        if (maxNorm is { } m) GradClip.ClipGradNorm(parameters, m);
        optimizer.Step();
        optimizer.ZeroGrad();
        return value;
    }

    /// <summary>
    /// The make step: on every PLP layer, adapter <paramref name="targetAdapter"/> of <paramref name="target"/> gets
    /// B = B of <paramref name="styleAdapter"/> (both halves) and A = [A_style[:, :in/2] | A_content[:, in/2:]] (the
    /// reference's <c>lora_style[k][:, half:] = lora_obj[k][:, half:]</c> on <c>lora.down.weight</c>). The three may be
    /// different models (the two runs on two copies of the base) or adapters of one.
    /// </summary>
    /// <exception cref="ArgumentException">A layer of the target has no counterpart of the same path and shapes in the style or content model.</exception>
    public static void Make(PeftModel target, string targetAdapter, PeftModel style, string styleAdapter, PeftModel content, string contentAdapter)
    {
        var styles = Layers(style, styleAdapter).ToDictionary(l => l.Path, l => l.Layer);
        var contents = Layers(content, contentAdapter).ToDictionary(l => l.Path, l => l.Layer);
        var targets = Layers(target, targetAdapter);
        // Every layer is checked before anything is written.
        foreach (var (path, layer) in targets)
            foreach (var (source, sources, name) in new[] { ("style", styles, styleAdapter), ("content", contents, contentAdapter) })
            {
                if (!sources.TryGetValue(path, out var other))
                    throw new ArgumentException($"BreakForMake.Make: the {source} adapter '{name}' has no PLP layer at '{path}'");
                if (!other.LoraA(name).Shape.AsSpan().SequenceEqual(layer.LoraA(targetAdapter).Shape) || !other.LoraB(name).Shape.AsSpan().SequenceEqual(layer.LoraB(targetAdapter).Shape))
                    throw new ArgumentException($"BreakForMake.Make: at '{path}' the {source} adapter's factors {Shapes.Format(other.LoraB(name).Shape)} x {Shapes.Format(other.LoraA(name).Shape)} differ from the target's");
            }
        using var _ = Autograd.Autograd.NoGrad();
        foreach (var (path, layer) in targets)
        {
            PlpLoraLayer s = styles[path], c = contents[path];
            layer.FrozenA(targetAdapter).CopyFrom(s.FrozenA(styleAdapter).Clone());
            layer.TrainedA(targetAdapter).CopyFrom(c.TrainedA(contentAdapter).Clone());
            layer.FrozenB(targetAdapter).CopyFrom(s.FrozenB(styleAdapter).Clone());
            layer.TrainedB(targetAdapter).CopyFrom(s.TrainedB(styleAdapter).Clone());
        }
    }

    /// <summary>
    /// Stage 2's optimiser for adapter <paramref name="adapter"/>: <see cref="AdamWr"/> over the trained halves of every
    /// PLP layer, each layer's (A_t, B_t) a pair whose Gram matrices come from the whole factors (the frozen halves
    /// still never move); δ = <paramref name="delta"/> (the reference's <c>optimizer_reg</c>, default 0).
    /// </summary>
    public static AdamWr RefineOptimizer(PeftModel model, string adapter, double lr, double weightDecay = 1e-2, double delta = 0)
    {
        var layers = Layers(model, adapter);
        var pairs = layers.Select(l => l.Layer.FactorPair(adapter)).ToList();
        return new AdamWr([new ParamGroup(pairs.SelectMany(p => new[] { p.A, p.B }), lr, weightDecay)], pairs, delta: delta);
    }
}
