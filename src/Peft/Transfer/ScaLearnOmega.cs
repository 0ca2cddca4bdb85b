namespace Engine.Peft.Transfer;

/// <summary>
/// ScaLearn's model-level part: for the "++" variants (<see cref="ScaLearnConfig.PerLayer"/>) the ONE ω [K, d] or
/// [K, 1] every layer shares (the reference's <c>init_shared_parameters_scalearn</c>), saved once as
/// <c>base_model.scalearn_omega</c>; otherwise empty (each layer holds its own ω). It refuses untrained preset sources
/// (<see cref="ScaLearnConfig.SourcesNeedTraining"/>) and, on saving, names in-place sources <c>new_source_k</c> in
/// <c>adapters</c> (they have no folder: the file's copy is their only one).
/// </summary>
public sealed class ScaLearnOmega : AdapterModelPart, ISharedTensorOwner, ISaveTransform
{
    /// <summary>The file key of the shared ω.</summary>
    public const string SharedKey = "base_model.scalearn_omega";

    /// <summary>Creates the shared ω when the config asks for it.</summary>
    public ScaLearnOmega(AdapterModelPartContext context) : base(context)
    {
        var c = (ScaLearnConfig)context.Config;
        if (c.SourcesNeedTraining)
            throw new NotSupportedException($"ScaLearn: its {c.SourceCount} source adapters must be trained single-task first (frozen untrained sources would add nothing); " +
                "`engine finetune` and `engine zoo` train them on the names tasks (female, male) before ScaLearn; elsewhere give trained BOTTLENECK folders in `adapters`");
        if (c.PerLayer)
        {
            var shape = Plan(c, context).Single().Shape;
            var dtype = Widths(context).Dtype;
            RegisterParameter("scalearn_omega", Tensor.Randn(shape, c.OmegaInitValue, 1e-3, dtype, context.CreateGenerator()));
        }
    }

    /// <summary>The shared ω, or null when each layer holds its own.</summary>
    public Tensor? Shared => ((ScaLearnConfig)Config).PerLayer ? GetParameter("scalearn_omega") : null;

    /// <summary>The shared ω's plan (empty without "++").</summary>
    public static IEnumerable<PlannedTensor> Plan(ScaLearnConfig c, AdapterModelPartContext context)
    {
        if (!c.PerLayer) return [];
        var (width, _) = Widths(context);
        return [new PlannedTensor(SharedKey, [c.SourceCount, c.VectorOmega ? width : 1])];
    }

    static (int Width, DType Dtype) Widths(AdapterModelPartContext context)
    {
        var linears = context.Targets.Select(t => t.Module is AdapterLayer l ? l.BaseLayer : t.Module as Linear
            ?? throw new NotSupportedException($"ScaLearn adapts Linear layers; '{t.Path.External}' is a {t.Module.GetType().Name}")).ToList();
        if (linears.Count == 0) throw new ArgumentException("ScaLearn: target_modules matched no module");
        var widths = linears.Select(l => l.OutFeatures).Distinct().ToList();
        if (widths.Count > 1) throw new ArgumentException($"ScaLearn: per_layer (one ω shared by every layer) needs one output width for every target, got {string.Join(", ", widths)}");
        return (widths[0], linears[0].Weight.DType);
    }

    /// <inheritdoc/>
    public override void OnLayersCreated(PeftModel model)
    {
        // The sources' widths go into the config, so that the saved adapter plans its copied sources without their folders.
        var c = (ScaLearnConfig)model.PeftConfigs[AdapterName];
        var layer = model.AdapterLayers().Select(l => l.Layer).OfType<ScaLearnLayer>().FirstOrDefault(l => l.AdapterNames.Contains(AdapterName));
        if (layer is null) return;
        var sources = layer.Sources(AdapterName);
        var sizes = Enumerable.Range(0, sources.Count).Select(k => sources.Down(k).OutFeatures).ToList();
        if (c.SourceBottleneckSizes is null || !c.SourceBottleneckSizes.SequenceEqual(sizes)) model.UpdateConfig(AdapterName, c with { SourceBottleneckSizes = sizes });
    }

    /// <inheritdoc/>
    public IEnumerable<SharedTensor> SharedTensors() => Shared is { } s ? [new SharedTensor(SharedKey, s, true, true)] : [];

    /// <inheritdoc/>
    public (PeftConfig Config, Dictionary<string, Tensor> Tensors) ForSaving(PeftModel model, PeftConfig config, Dictionary<string, Tensor> tensors, bool convertToLora)
    {
        var c = (ScaLearnConfig)config;
        if (c.NewSources is not { Count: > 0 } s) return (config, tensors);
        return (c with { Adapters = Enumerable.Range(0, s.Count).Select(k => $"new_source_{k}").ToList(), NewSources = null }, tensors);
    }
}
