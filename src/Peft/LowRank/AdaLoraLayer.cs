namespace Engine.Peft.LowRank;

/// <summary>
/// A <see cref="Linear"/> with AdaLoRA adapters (Zhang et al. 2023, equation 3): y = x W0^T + b0 +
/// (dropout(x) (Q * lambda)^T) P^T * alpha / ranknum, with Q = <c>lora_A</c> [r, in], lambda = <c>lora_E</c> [r, 1],
/// P = <c>lora_B</c> [out, r] (parameters without <c>.weight</c>, as PEFT's ParameterDicts) and ranknum = init_r.
/// Pruned triplets have lambda_i = 0.
/// </summary>
public sealed class AdaLoraLayer : AdapterLayer
{
    readonly Dictionary<string, (double Scaling, double RankNum)> _settings = new();

    /// <summary>Wraps <paramref name="baseLayer"/>.</summary>
    public AdaLoraLayer(Linear baseLayer) : base(baseLayer)
    {
        RegisterModule("lora_dropout", new ModuleDict<Dropout>());
        RegisterModule("lora_A", new ParameterDict());
        RegisterModule("lora_E", new ParameterDict());
        RegisterModule("lora_B", new ParameterDict());
    }

    ParameterDict Dict(string name) => (ParameterDict)Child(name);

    /// <inheritdoc/>
    public override IReadOnlyList<string> AdapterNames => _settings.Keys.ToList();

    /// <summary>Q [r, in].</summary>
    public Tensor LoraA(string name) => Dict("lora_A")[name];

    /// <summary>lambda [r, 1].</summary>
    public Tensor LoraE(string name) => Dict("lora_E")[name];

    /// <summary>P [out, r].</summary>
    public Tensor LoraB(string name) => Dict("lora_B")[name];

    /// <summary>alpha / (ranknum + 1e-5), PEFT's factor.</summary>
    public double Scale(string name) => _settings[name].Scaling / (_settings[name].RankNum + 1e-5);

    /// <inheritdoc/>
    public override bool Accepts(PeftConfig config) => config is AdaLoraConfig;

    /// <inheritdoc/>
    public override void AddAdapter(string name, PeftConfig config, ModulePath path)
    {
        if (config is not AdaLoraConfig c) throw new ArgumentException($"AdaLoraLayer: expects an AdaLoraConfig, got {config.GetType().Name}");
        if (_settings.ContainsKey(name)) throw new ArgumentException($"AdaLoraLayer: '{path.External}' already has an adapter named '{name}'");
        // A fixed rank pattern (a loaded adapter) builds only the kept triplets; ranknum stays init_r.
        int r = c.MaskFor(path) is { } mask ? mask.Count(k => k) : c.InitR;
        var dtype = BaseLayer.Weight.DType;
        var generator = c.Seed is { } seed ? new Generator(seed ^ (ulong)path.Engine.Length * 0x9E3779B97F4A7C15UL ^ Fnv(path.Engine)) : null;
        // Section 3.1 of the paper: lambda = 0, P and Q random (PEFT: N(0, 0.02)), so the layer starts at W0.
        Dict("lora_A").Add(name, Tensor.Randn([r, InFeatures], 0, 0.02, dtype, generator));
        Dict("lora_E").Add(name, Tensor.Zeros([r, 1], dtype));
        Dict("lora_B").Add(name, Tensor.Randn([OutFeatures, r], 0, 0.02, dtype, generator));
        ((ModuleDict<Dropout>)Child("lora_dropout")).Add(name, new Dropout(c.LoraDropout));
        _settings[name] = (c.LoraAlpha > 0 ? c.LoraAlpha : c.InitR, c.InitR);
        Train(Training);
    }

    /// <inheritdoc/>
    protected override void RemoveAdapter(string name)
    {
        if (!_settings.Remove(name)) throw new KeyNotFoundException($"AdaLoraLayer: no adapter named '{name}'");
        foreach (var dict in new[] { "lora_A", "lora_E", "lora_B" }) ReplaceModule(dict, Dict(dict).Without(name));
        RemoveFromDict<Dropout>("lora_dropout", name);
    }

    /// <inheritdoc/>
    public override IEnumerable<(string Key, Tensor Tensor)> AdapterTensors(string name)
    {
        yield return ("lora_A", LoraA(name));
        yield return ("lora_E", LoraE(name));
        yield return ("lora_B", LoraB(name));
    }

    /// <summary>P (Q * lambda) alpha / ranknum [out, in].</summary>
    public override Tensor DeltaWeight(string name) => LoraB(name) % (LoraA(name) * LoraE(name)) * Scale(name);

    /// <inheritdoc/>
    protected override Tensor AddContributions(Tensor input, Tensor result, IReadOnlyList<string> adapters)
    {
        foreach (var name in adapters)
        {
            var x = ((ModuleDict<Dropout>)Child("lora_dropout"))[name].Forward(input);
            var shape = x.Shape;
            shape[^1] = OutFeatures;
            var h = x.Reshape(-1, InFeatures).MatMul((LoraA(name) * LoraE(name)).T).MatMul(LoraB(name).T);
            result = result + h.Reshape(shape) * Scale(name);
        }
        return result;
    }

    /// <summary>Zeroes lambda_i where <paramref name="keep"/> is false (pruned triplets).</summary>
    public void Mask(string name, bool[] keep)
    {
        var e = LoraE(name);
        if (keep.Length != e.Size(0)) throw new ArgumentException($"AdaLoraLayer.Mask: {keep.Length} flags for rank {e.Size(0)}");
        var m = Tensor.FromArray(keep.Select(k => k ? 1.0 : 0.0).ToArray(), [keep.Length, 1]).To(e.DType);
        using (Autograd.Autograd.NoGrad()) e.CopyFrom(e.Detach() * m);
    }

    static ulong Fnv(string s)
    {
        ulong h = 14695981039346656037;
        foreach (char ch in s) h = (h ^ ch) * 1099511628211;
        return h;
    }
}
