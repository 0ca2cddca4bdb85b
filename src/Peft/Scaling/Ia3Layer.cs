namespace Engine.Peft.Scaling;

/// <summary>
/// A <see cref="Linear"/> with IA3 vectors (Liu et al. 2022, equation in section 3.3), PEFT's <c>ia3_l</c>:
/// feed-forward targets compute y = (x * l) W0^T + b0 with l [1, in]; the others y = (x W0^T + b0) * l with
/// l [out, 1] (stored as PEFT stores them). Several active adapters multiply. Mergeable by scaling W0's columns,
/// or its rows and the bias.
/// </summary>
public sealed class Ia3Layer : AdapterLayer
{
    readonly Dictionary<string, bool> _feedforward = new();

    /// <summary>Wraps <paramref name="baseLayer"/>.</summary>
    public Ia3Layer(Linear baseLayer) : base(baseLayer) => RegisterModule("ia3_l", new ParameterDict());

    ParameterDict Vectors => (ParameterDict)Child("ia3_l");

    /// <inheritdoc/>
    public override IReadOnlyList<string> AdapterNames => _feedforward.Keys.ToList();

    /// <summary>The scaling vector of adapter <paramref name="name"/>: [1, in] for feed-forward targets, else [out, 1].</summary>
    public Tensor Vector(string name) => Vectors[name];

    /// <summary>True when adapter <paramref name="name"/> scales this layer's input.</summary>
    public bool IsFeedforward(string name) => _feedforward[name];

    /// <inheritdoc/>
    public override bool Accepts(PeftConfig config) => config is Ia3Config;

    /// <inheritdoc/>
    public override void AddAdapter(string name, PeftConfig config, ModulePath path)
    {
        if (config is not Ia3Config c) throw new ArgumentException($"Ia3Layer: expects an Ia3Config, got {config.GetType().Name}");
        if (_feedforward.ContainsKey(name)) throw new ArgumentException($"Ia3Layer: '{path.External}' already has an adapter named '{name}'");
        bool ff = c.IsFeedforward(path);
        _feedforward[name] = ff;
        Vectors.Add(name, Tensor.Ones(ff ? [1, InFeatures] : [OutFeatures, 1], BaseLayer.Weight.DType));
    }

    /// <inheritdoc/>
    protected override void RemoveAdapter(string name)
    {
        if (!_feedforward.Remove(name)) throw new KeyNotFoundException($"Ia3Layer: no adapter named '{name}'");
        ReplaceModule("ia3_l", Vectors.Without(name));
    }

    /// <inheritdoc/>
    public override IEnumerable<(string Key, Tensor Tensor)> AdapterTensors(string name)
    {
        yield return ("ia3_l", Vector(name));
    }

    /// <summary>The additive change W0 diag(l) - W0 or diag(l) W0 - W0 (IA3 is multiplicative; this is its effect on W0).</summary>
    public override Tensor DeltaWeight(string name) => MergeWeight(BaseLayer.Weight, name) - BaseLayer.Weight;

    /// <inheritdoc/>
    public override Tensor Forward(Tensor input)
    {
        if (Disabled) return BaseLayer.Forward(input);
        var adapters = ActiveAdapters.Where(a => !MergedAdapters.Contains(a)).ToList();
        var x = input;
        Tensor? outputScale = null;
        foreach (var name in adapters)
        {
            var l = Vector(name);
            if (_feedforward[name]) x = x * l.Reshape(InFeatures);
            else outputScale = outputScale is null ? l.Reshape(OutFeatures) : outputScale * l.Reshape(OutFeatures);
        }
        var y = BaseLayer.Forward(x);
        return outputScale is null ? y : y * outputScale;
    }

    /// <inheritdoc/>
    protected override Tensor AddContributions(Tensor input, Tensor baseOutput, IReadOnlyList<string> adapters) =>
        throw new InvalidOperationException("Ia3Layer: the scalings are applied in Forward");

    /// <inheritdoc/>
    protected override Tensor MergeWeight(Tensor weight, string name) => weight * Vector(name).Detach();

    /// <inheritdoc/>
    protected override Tensor UnmergeWeight(Tensor weight, string name) => weight / Vector(name).Detach();

    /// <inheritdoc/>
    protected override Tensor MergeBias(Tensor bias, string name) => _feedforward[name] ? bias : bias * Vector(name).Detach().Reshape(OutFeatures);

    /// <inheritdoc/>
    protected override Tensor UnmergeBias(Tensor bias, string name) => _feedforward[name] ? bias : bias / Vector(name).Detach().Reshape(OutFeatures);
}
