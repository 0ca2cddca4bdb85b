namespace Engine.Peft.Inserted;

/// <summary>
/// A Houlsby bottleneck (Houlsby et al. 2019, figure 2) on the output of a <see cref="Linear"/> (a sub-layer's output
/// projection): y = h + f(h W_down^T + b_down) W_up^T + b_up with h = x W0^T + b0, W_down [m, out] and W_up [out, m]
/// (<c>adapter_down</c>, <c>adapter_up</c>), weights drawn from a truncated normal of small deviation and biases zero,
/// so the layer starts near the identity (section 3.6).
/// </summary>
public sealed class BottleneckLayer : AdapterLayer
{
    /// <summary>Wraps <paramref name="baseLayer"/>.</summary>
    public BottleneckLayer(Linear baseLayer) : base(baseLayer) { }

    /// <summary>The down-projection of adapter <paramref name="name"/>.</summary>
    public Linear DownProjection(string name) => ModuleOf<Linear>("adapter_down", name);

    /// <summary>The up-projection of adapter <paramref name="name"/>.</summary>
    public Linear UpProjection(string name) => ModuleOf<Linear>("adapter_up", name);

    /// <inheritdoc/>
    public override IEnumerable<PlannedTensor> PlanAdapter(AdapterContext context)
    {
        int size = context.ConfigAs<BottleneckConfig>().BottleneckSize;
        return [Planned("adapter_down", "weight", size, OutFeatures), Planned("adapter_down", "bias", size),
            Planned("adapter_up", "weight", OutFeatures, size), Planned("adapter_up", "bias", OutFeatures)];
    }

    /// <inheritdoc/>
    protected override void CreateAdapter(AdapterContext context)
    {
        var c = context.ConfigAs<BottleneckConfig>();
        SetState(context.Name, c.Activation);
        var g = context.Generator;
        var down = AddModule("adapter_down", context.Name, new Linear(OutFeatures, c.BottleneckSize, true, g));
        var up = AddModule("adapter_up", context.Name, new Linear(c.BottleneckSize, OutFeatures, true, g));
        foreach (var l in new[] { down, up })
        {
            Init.TruncatedNormal(l.Weight, 0, c.InitStd, g);
            Init.Zeros(l.Bias!);
        }
    }

    /// <inheritdoc/>
    protected override Tensor ForwardAdapters(Tensor input, IReadOnlyList<string> adapters)
    {
        var result = BaseLayer.Forward(input);
        var h = result;
        foreach (var name in adapters)
        {
            var z = DownProjection(name).Forward(h);
            z = State<string>(name) switch { "relu" => z.Relu(), "tanh" => z.Tanh(), _ => z.Gelu() };
            result = result + UpProjection(name).Forward(z);
        }
        return result;
    }
}
