namespace Engine.Peft.RandomBasis;

/// <summary>
/// A <see cref="Linear"/> with VeRA adapters (Kopiczko et al. 2024, equation 1): y = x W0^T + b0 +
/// b * ((dropout(x) A_s^T * d) B_s^T), with A_s = A[:, :in] and B_s = B[:out, :] slices of the shared frozen
/// matrices and trainable d [r] (<c>vera_lambda_d</c>, init d_initial) and b [out] (<c>vera_lambda_b</c>, init 0).
/// </summary>
public sealed class VeraLayer : AdapterLayer
{
    readonly Dictionary<string, SharedTensors?> _shared = new();

    /// <summary>Wraps <paramref name="baseLayer"/>.</summary>
    public VeraLayer(Linear baseLayer) : base(baseLayer)
    {
        RegisterModule("vera_dropout", new ModuleDict<Dropout>());
        RegisterModule("vera_lambda_b", new ParameterDict());
        RegisterModule("vera_lambda_d", new ParameterDict());
    }

    ParameterDict Dict(string name) => (ParameterDict)Child(name);

    /// <inheritdoc/>
    public override IReadOnlyList<string> AdapterNames => _shared.Keys.ToList();

    /// <summary>b [out].</summary>
    public Tensor LambdaB(string name) => Dict("vera_lambda_b")[name];

    /// <summary>d [r].</summary>
    public Tensor LambdaD(string name) => Dict("vera_lambda_d")[name];

    /// <summary>The shared A sliced to this layer: [r, in].</summary>
    public Tensor A(string name) => Shared(name)[VeraConfig.SharedName("A", name)].Narrow(1, 0, InFeatures);

    /// <summary>The shared B sliced to this layer: [out, r].</summary>
    public Tensor B(string name) => Shared(name)[VeraConfig.SharedName("B", name)].Narrow(0, 0, OutFeatures);

    SharedTensors Shared(string name) => _shared.TryGetValue(name, out var s) && s is not null ? s
        : throw new InvalidOperationException($"VeraLayer: adapter '{name}' has no shared matrices attached (VeraConfig.OnAdapterAdded attaches them)");

    /// <summary>Points adapter <paramref name="name"/> at the model's shared tensors (referenced, never copied).</summary>
    public void AttachShared(string name, SharedTensors shared) => _shared[name] = shared;

    /// <inheritdoc/>
    public override bool Accepts(PeftConfig config) => config is VeraConfig;

    /// <inheritdoc/>
    public override void AddAdapter(string name, PeftConfig config, ModulePath path)
    {
        if (config is not VeraConfig c) throw new ArgumentException($"VeraLayer: expects a VeraConfig, got {config.GetType().Name}");
        if (_shared.ContainsKey(name)) throw new ArgumentException($"VeraLayer: '{path.External}' already has an adapter named '{name}'");
        var dtype = BaseLayer.Weight.DType;
        Dict("vera_lambda_b").Add(name, Tensor.Zeros([OutFeatures], dtype));
        Dict("vera_lambda_d").Add(name, Tensor.Full([c.R], c.DInitial, dtype));
        ((ModuleDict<Dropout>)Child("vera_dropout")).Add(name, new Dropout(c.VeraDropout));
        _shared[name] = null;
        Train(Training);
    }

    /// <inheritdoc/>
    protected override void RemoveAdapter(string name)
    {
        if (!_shared.Remove(name)) throw new KeyNotFoundException($"VeraLayer: no adapter named '{name}'");
        foreach (var dict in new[] { "vera_lambda_b", "vera_lambda_d" }) ReplaceModule(dict, Dict(dict).Without(name));
        RemoveFromDict<Dropout>("vera_dropout", name);
    }

    /// <inheritdoc/>
    public override IEnumerable<(string Key, Tensor Tensor)> AdapterTensors(string name)
    {
        yield return ("vera_lambda_b", LambdaB(name));
        yield return ("vera_lambda_d", LambdaD(name));
    }

    /// <summary>diag(b) B_s diag(d) A_s [out, in].</summary>
    public override Tensor DeltaWeight(string name) => (LambdaB(name).Unsqueeze(1) * B(name)) % (LambdaD(name).Unsqueeze(1) * A(name));

    /// <inheritdoc/>
    protected override Tensor AddContributions(Tensor input, Tensor result, IReadOnlyList<string> adapters)
    {
        foreach (var name in adapters)
        {
            var x = ((ModuleDict<Dropout>)Child("vera_dropout"))[name].Forward(input);
            var shape = x.Shape;
            shape[^1] = OutFeatures;
            var h = (x.Reshape(-1, InFeatures).MatMul(A(name).T) * LambdaD(name)).MatMul(B(name).T) * LambdaB(name);
            result = result + h.Reshape(shape);
        }
        return result;
    }
}
