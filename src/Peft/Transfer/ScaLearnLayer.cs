using Engine.Peft.Inserted;

namespace Engine.Peft.Transfer;

/// <summary>
/// A <see cref="Linear"/> (the feed-forward output) with ScaLearn adapters (CPJKU/ScaLearn <c>layer.py::scalearn</c>,
/// <c>modeling.py::ScaLearn.forward</c>): with h = x W0^T + b0 the module output and a_k the output of frozen source k
/// on h (<see cref="ScaLearnSources"/>), y = Σ_k dropout(ω)_k ⊙ a_k + h. ω [K, d] ("vector") or [K, 1] ("scalar") is
/// this layer's <c>scalearn_omega</c>, or the model-wide one of <see cref="ScaLearnOmega"/> for the "++" variants;
/// the dropout is inverted dropout on ω's entries, drawn afresh at every training forward (pitfall 7). The engine's
/// bottleneck reads h itself, so r = h here: the reference's Pfeiffer adapter reads LN(h + block input) with residual
/// h (<c>residual_before_ln</c>), which the engine's BOTTLENECK sources do not have. With ω = e_j (one-hot, no
/// dropout) the output is the module with source j alone: h + a_j, a <see cref="BottleneckLayer"/>'s output.
/// </summary>
public sealed class ScaLearnLayer : AdapterLayer
{
    readonly Dictionary<string, ScaLearnOmega> _parts = new(StringComparer.Ordinal);

    /// <summary>Wraps <paramref name="baseLayer"/>.</summary>
    public ScaLearnLayer(Linear baseLayer) : base(baseLayer) { }

    /// <summary>The frozen sources of adapter <paramref name="name"/>.</summary>
    public ScaLearnSources Sources(string name) => ModuleOf<ScaLearnSources>("scalearn_sources", name);

    /// <summary>ω [K, d] or [K, 1] of adapter <paramref name="name"/> (the shared one for the "++" variants).</summary>
    public Tensor Omega(string name) => _parts.TryGetValue(name, out var part) && part.Shared is { } shared ? shared : Parameter("scalearn_omega", name);

    // The sources' bottleneck widths: from the file being loaded, else from each source's config.
    IReadOnlyList<int> Sizes(AdapterContext context)
    {
        var c = context.ConfigAs<ScaLearnConfig>();
        if (c.SourceCount < 1) throw new ArgumentException("ScaLearnConfig: no source adapters: give adapters (BOTTLENECK folders) or NewSources");
        if (c.SourceBottleneckSizes is { } recorded && (context.FromFile || c.NewSources is not { Count: > 0 })) return recorded;
        if (context.FromFile && context.FileShapes is not null)
            return Enumerable.Range(0, c.SourceCount).Select(k => context.FileShape($"scalearn_sources.{k}.adapter_down.weight")?[0]
                ?? throw new ArgumentException($"ScaLearn: the file has no source {k} for '{context.Path.External}' (it names {c.SourceCount} sources)")).ToList();
        return ScaLearnSources.Describe(c).Select(s => s.Config.BottleneckSize).ToList();
    }

    /// <inheritdoc/>
    public override IEnumerable<PlannedTensor> PlanAdapter(AdapterContext context)
    {
        var c = context.ConfigAs<ScaLearnConfig>();
        var sizes = Sizes(context);
        var plan = new List<PlannedTensor>();
        for (int k = 0; k < sizes.Count; k++)
            plan.AddRange([Planned("scalearn_sources", $"{k}.adapter_down.weight", sizes[k], OutFeatures), Planned("scalearn_sources", $"{k}.adapter_down.bias", sizes[k]),
                Planned("scalearn_sources", $"{k}.adapter_up.weight", OutFeatures, sizes[k]), Planned("scalearn_sources", $"{k}.adapter_up.bias", OutFeatures)]);
        if (!c.PerLayer) plan.Add(Planned("scalearn_omega", null, sizes.Count, c.VectorOmega ? OutFeatures : 1));
        return plan;
    }

    /// <inheritdoc/>
    protected override void CreateAdapter(AdapterContext context)
    {
        var c = context.ConfigAs<ScaLearnConfig>();
        var sizes = Sizes(context);
        var g = context.Generator;
        var sources = AddModule("scalearn_sources", context.Name, new ScaLearnSources(OutFeatures, sizes, c.Activation, g));
        if (!context.FromFile)
        {
            var described = ScaLearnSources.Describe(c);
            for (int k = 0; k < described.Count; k++)
            {
                var (config, folder) = described[k];
                if (config.BottleneckSize != sizes[k])
                    throw new ArgumentException($"ScaLearn: source {k} has bottleneck_size {config.BottleneckSize}, but source_bottleneck_sizes gives {sizes[k]}");
                if (folder is not null) sources.CopyFrom(k, folder, context.Path);
                else
                    // In place: the bottleneck's own start (truncated normal at ±2 std, biases zero).
                    foreach (var l in new[] { sources.Down(k), sources.Up(k) })
                    {
                        Init.TruncatedNormal(l.Weight, 0, config.InitStd, g);
                        Init.Zeros(l.Bias!);
                    }
            }
        }
        FreezeTensor("scalearn_sources", context.Name);
        var part = context.ModelPartAs<ScaLearnOmega>();
        _parts[context.Name] = part;
        if (!c.PerLayer)
            AddParameter("scalearn_omega", context.Name, Tensor.Randn([sizes.Count, c.VectorOmega ? OutFeatures : 1], c.OmegaInitValue, 1e-3, BaseLayer.Weight.DType, g));
        else if (part.Shared!.Size(1) != (c.VectorOmega ? OutFeatures : 1))
            throw new ArgumentException($"ScaLearn: the shared ω has width {part.Shared.Size(1)}, but '{context.Path.External}' has {OutFeatures}; ++ needs one width for every target");
        AddDropout("scalearn_dropout", context.Name, c.DropoutRatio, g);
    }

    /// <inheritdoc/>
    protected override void OnRemoving(string name) => _parts.Remove(name);

    /// <inheritdoc/>
    protected override Tensor ForwardAdapters(Tensor input, IReadOnlyList<string> adapters)
    {
        var h = BaseLayer.Forward(input);
        var result = h;
        foreach (var name in adapters)
        {
            result = result + Mixture(name, h);
            if (!((ScaLearnConfig)ConfigOf(name)).Residual) result = result - h;
        }
        return result;
    }

    // Σ_k dropout(ω)_k ⊙ a_k on the module output h.
    Tensor Mixture(string name, Tensor h)
    {
        var sources = Sources(name);
        var omega = Dropout(name, Omega(name)).To(h.DType);
        Tensor? sum = null;
        for (int k = 0; k < sources.Count; k++)
        {
            var term = sources.Output(k, h) * omega.Select(0, k);
            sum = sum is null ? term : sum + term;
        }
        return sum!;
    }

    /// <inheritdoc/>
    public override string? MergeRefusal(string name) => "ScaLearn scales the outputs of non-linear source adapters; there is no weight to merge";
}
