namespace Engine.Peft.Inserted;

/// <summary>
/// A Houlsby bottleneck (Houlsby et al. 2019, figure 2) on the output of a <see cref="Linear"/> (a sub-layer's output
/// projection): y = h + f(h W_down^T + b_down) W_up^T + b_up with h = x W0^T + b0, W_down [m, out] and W_up [out, m]
/// (<c>adapter_down</c>, <c>adapter_up</c>), both initialised near zero so the layer starts near the identity.
/// </summary>
public sealed class BottleneckLayer : AdapterLayer
{
    readonly Dictionary<string, string> _activation = new();

    /// <summary>Wraps <paramref name="baseLayer"/>.</summary>
    public BottleneckLayer(Linear baseLayer) : base(baseLayer)
    {
        RegisterModule("adapter_down", new ModuleDict<Linear>());
        RegisterModule("adapter_up", new ModuleDict<Linear>());
    }

    ModuleDict<Linear> Down => (ModuleDict<Linear>)Child("adapter_down");
    ModuleDict<Linear> Up => (ModuleDict<Linear>)Child("adapter_up");

    /// <inheritdoc/>
    public override IReadOnlyList<string> AdapterNames => _activation.Keys.ToList();

    /// <summary>The down-projection of adapter <paramref name="name"/>.</summary>
    public Linear DownProjection(string name) => Down[name];

    /// <summary>The up-projection of adapter <paramref name="name"/>.</summary>
    public Linear UpProjection(string name) => Up[name];

    /// <inheritdoc/>
    public override bool Accepts(PeftConfig config) => config is BottleneckConfig;

    /// <inheritdoc/>
    public override bool IsMergeable(string name) => false;

    /// <inheritdoc/>
    public override void AddAdapter(string name, PeftConfig config, ModulePath path)
    {
        if (config is not BottleneckConfig c) throw new ArgumentException($"BottleneckLayer: expects a BottleneckConfig, got {config.GetType().Name}");
        if (_activation.ContainsKey(name)) throw new ArgumentException($"BottleneckLayer: '{path.External}' already has an adapter named '{name}'");
        if (c.Activation is not ("gelu" or "relu" or "tanh"))
            throw new ArgumentException($"BottleneckLayer: activation '{c.Activation}' is not one of gelu, relu, tanh");
        var generator = c.Seed is { } seed ? new Generator(seed + (ulong)path.Engine.Length) : null;
        var down = new Linear(OutFeatures, c.BottleneckSize, true, generator);
        var up = new Linear(c.BottleneckSize, OutFeatures, true, generator);
        foreach (var l in new[] { down, up })
        {
            l.To(BaseLayer.Weight.DType);
            // Section 3.6 of the paper: near-identity initialisation keeps the pretrained function at the start.
            Init.Normal(l.Weight, 0, c.InitStd, generator);
            Init.Zeros(l.Bias!);
        }
        Down.Add(name, down);
        Up.Add(name, up);
        _activation[name] = c.Activation;
        Train(Training);
    }

    /// <inheritdoc/>
    protected override void RemoveAdapter(string name)
    {
        if (!_activation.Remove(name)) throw new KeyNotFoundException($"BottleneckLayer: no adapter named '{name}'");
        RemoveFromDict<Linear>("adapter_down", name);
        RemoveFromDict<Linear>("adapter_up", name);
    }

    /// <inheritdoc/>
    public override IEnumerable<(string Key, Tensor Tensor)> AdapterTensors(string name)
    {
        yield return ("adapter_down.weight", Down[name].Weight);
        yield return ("adapter_down.bias", Down[name].Bias!);
        yield return ("adapter_up.weight", Up[name].Weight);
        yield return ("adapter_up.bias", Up[name].Bias!);
    }

    /// <inheritdoc/>
    public override Tensor DeltaWeight(string name) =>
        throw new NotSupportedException("BottleneckLayer: a bottleneck adapter is non-linear and has no weight delta");

    /// <inheritdoc/>
    protected override Tensor AddContributions(Tensor input, Tensor result, IReadOnlyList<string> adapters)
    {
        var h = result;
        foreach (var name in adapters)
        {
            var z = Down[name].Forward(h);
            z = _activation[name] switch { "relu" => z.Relu(), "tanh" => z.Tanh(), _ => z.Gelu() };
            result = result + Up[name].Forward(z);
        }
        return result;
    }
}
