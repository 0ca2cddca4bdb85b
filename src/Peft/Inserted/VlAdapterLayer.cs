namespace Engine.Peft.Inserted;

/// <summary>
/// A VL-Adapter on the output of a sublayer's output projection (spec adapters-other.md §10; ylsung/VL_adapter
/// <c>adapter_modeling.py::Adapter</c>, <c>adapter_controller.py::AdapterController.forward</c>):
/// y′ = y + swish(y W_downᵀ + b_down) W_upᵀ + b_up with y = x W0ᵀ + b0, W_down [m, d], W_up [d, m] (<c>adapter_down</c>,
/// <c>adapter_up</c>, each <c>.weight</c>/<c>.bias</c>); per-task adapters stack a leading task axis and pick each
/// example's own. Refuses to merge.
/// </summary>
public sealed class VlAdapterLayer : AdapterLayer
{
    /// <summary>Wraps <paramref name="baseLayer"/>.</summary>
    public VlAdapterLayer(Linear baseLayer) : base(baseLayer) { }

    /// <summary>The down-projection of adapter <paramref name="name"/>.</summary>
    public TaskLinear Down(string name) => ModuleOf<TaskLinear>("adapter_down", name);

    /// <summary>The up-projection of adapter <paramref name="name"/>.</summary>
    public TaskLinear Up(string name) => ModuleOf<TaskLinear>("adapter_up", name);

    int Width(VlAdapterConfig c, AdapterContext context)
    {
        int m = c.DownSampleSize ?? OutFeatures / c.ReductionFactor;
        if (m < 1) throw new ArgumentException($"VlAdapterLayer: reduction_factor {c.ReductionFactor} leaves no bottleneck for width {OutFeatures} at '{context.Path.External}'");
        return m;
    }

    /// <inheritdoc/>
    public override IEnumerable<PlannedTensor> PlanAdapter(AdapterContext context)
    {
        var c = context.ConfigAs<VlAdapterConfig>();
        int m = Width(c, context), d = OutFeatures;
        int[] t = c.UseSingleAdapter ? [] : [c.NTasks];
        return [Planned("adapter_down", "weight", [.. t, m, d]), Planned("adapter_down", "bias", [.. t, m]),
            Planned("adapter_up", "weight", [.. t, d, m]), Planned("adapter_up", "bias", [.. t, d])];
    }

    /// <inheritdoc/>
    protected override void CreateAdapter(AdapterContext context)
    {
        var c = context.ConfigAs<VlAdapterConfig>();
        int m = Width(c, context), d = OutFeatures;
        int? tasks = c.UseSingleAdapter ? null : c.NTasks;
        var dtype = BaseLayer.Weight.DType;
        AddModule("adapter_down", context.Name, new TaskLinear(d, m, tasks, c.InitStd, dtype, context.Generator));
        AddModule("adapter_up", context.Name, new TaskLinear(m, d, tasks, c.ZeroUp ? 0 : c.InitStd, dtype, context.Generator));
    }

    /// <inheritdoc/>
    protected override Tensor ForwardAdapters(Tensor input, IReadOnlyList<string> adapters)
    {
        var result = BaseLayer.Forward(input);
        var y = result;
        foreach (var name in adapters)
        {
            var c = (VlAdapterConfig)ConfigOf(name);
            var ids = c.UseSingleAdapter ? null : TaskIds.Resolve(c, "VL-Adapter", name, y.Size(0));
            var z = Down(name).Forward(y, ids);
            z = c.NonLinearity switch { "relu" => z.Relu(), "tanh" => z.Tanh(), "gelu_new" => z.Gelu(true), _ => z.Silu() };
            result = result + Up(name).Forward(z, ids);
        }
        return result;
    }

    /// <inheritdoc/>
    public override string? MergeRefusal(string name) => "VL-Adapter's bottleneck is non-linear (swish); there is no weight to merge it into";
}
