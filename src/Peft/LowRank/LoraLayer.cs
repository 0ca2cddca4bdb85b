namespace Engine.Peft.LowRank;

/// <summary>
/// A <see cref="Linear"/> with LoRA adapters (Hu et al. 2021): y = x W0^T + b0 + sum over active adapters of
/// s B(A(dropout(x))), with A [r, in] (<c>lora_A</c>), B [out, r] (<c>lora_B</c>) and s = alpha / r (rsLoRA:
/// alpha / sqrt r). A DoRA adapter (Liu et al. 2024) also holds a magnitude m (<c>lora_magnitude_vector</c>) and uses
/// the weight m (W0 + s B A) / ||W0 + s B A||_c, the norm taken per output row.
/// Sub-modules follow PEFT's layout: <c>base_layer</c>, <c>lora_dropout.{name}</c>, <c>lora_A.{name}</c>,
/// <c>lora_B.{name}</c>, <c>lora_magnitude_vector.{name}</c>.
/// </summary>
public sealed class LoraLayer : AdapterLayer
{
    readonly Dictionary<string, LoraAdapterSettings> _settings = new();
    readonly Dictionary<string, Tensor> _doraMergeNorm = new();
    readonly Dictionary<string, (Tensor A, Tensor B)> _initialFactors = new();

    /// <summary>Wraps <paramref name="baseLayer"/>; add adapters with <see cref="AddAdapter"/>.</summary>
    public LoraLayer(Linear baseLayer) : base(baseLayer)
    {
        RegisterModule("lora_dropout", new ModuleDict<Dropout>());
        RegisterModule("lora_A", new ModuleDict<Linear>());
        RegisterModule("lora_B", new ModuleDict<Linear>());
        RegisterModule("lora_magnitude_vector", new ModuleDict<DoraMagnitude>());
    }

    ModuleDict<Dropout> DropoutDict => (ModuleDict<Dropout>)Child("lora_dropout");
    ModuleDict<Linear> ADict => (ModuleDict<Linear>)Child("lora_A");
    ModuleDict<Linear> BDict => (ModuleDict<Linear>)Child("lora_B");
    ModuleDict<DoraMagnitude> MagnitudeDict => (ModuleDict<DoraMagnitude>)Child("lora_magnitude_vector");

    /// <inheritdoc/>
    public override IReadOnlyList<string> AdapterNames => _settings.Keys.ToList();

    /// <summary>Rank, alpha, scale and variant of adapter <paramref name="name"/>.</summary>
    public LoraAdapterSettings Settings(string name) => _settings.TryGetValue(name, out var s) ? s
        : throw new KeyNotFoundException($"LoraLayer: no adapter named '{name}'; adapters: [{string.Join(", ", _settings.Keys)}]");

    /// <summary>A [r, in] of adapter <paramref name="name"/>.</summary>
    public Tensor LoraA(string name) => ADict[name].Weight;

    /// <summary>B [out, r] of adapter <paramref name="name"/>.</summary>
    public Tensor LoraB(string name) => BDict[name].Weight;

    /// <summary>
    /// A0 and B0 of a PiSSA/OLoRA adapter as initialised (whose product was moved out of the base weight), or null.
    /// </summary>
    public (Tensor A, Tensor B)? InitialFactors(string name) => _initialFactors.TryGetValue(name, out var f) ? f : null;

    /// <summary>The DoRA magnitude m [out] of adapter <paramref name="name"/>, or null for plain LoRA.</summary>
    public Tensor? Magnitude(string name) => _settings[name].UseDora ? MagnitudeDict[name].Weight : null;

    /// <inheritdoc/>
    public override bool Accepts(PeftConfig config) => config is LoraConfig;

    /// <inheritdoc/>
    public override void AddAdapter(string name, PeftConfig config, ModulePath path)
    {
        if (config is not LoraConfig c) throw new ArgumentException($"LoraLayer: expects a LoraConfig, got {config.GetType().Name}");
        int r = c.RankFor(path);
        double alpha = c.AlphaFor(path);
        if (r < 1) throw new ArgumentException($"LoraLayer: rank must be positive, got {r} for '{path.External}'");
        if (c.Bias != "none") throw new NotSupportedException($"LoraLayer: bias '{c.Bias}' is not implemented; only 'none' (base biases stay frozen)");
        if (_settings.ContainsKey(name)) throw new ArgumentException($"LoraLayer: '{path.External}' already has an adapter named '{name}'");
        var settings = new LoraAdapterSettings(r, alpha, c.Scaling(r, alpha), c.UseDora, c.DoraDetachNorm, c.InitLoraWeights);
        var generator = c.Seed is { } seed ? new Generator(seed ^ StableHash(path.Engine)) : null;

        var weight = BaseLayer.Weight;
        // nn.Linear's Kaiming-uniform (a = sqrt 5) for A, as PEFT's default (Hu et al. 2021, section 4.1: B = 0).
        var a = new Linear(InFeatures, r, bias: false, generator);
        var b = new Linear(r, OutFeatures, bias: false, generator);
        a.To(weight.DType);
        b.To(weight.DType);
        using (Autograd.Autograd.NoGrad())
        {
            switch (c.InitLoraWeights)
            {
                case LoraInit.Default: Init.Zeros(b.Weight); break;
                case LoraInit.Random: break;
                case LoraInit.Gaussian:
                    // PEFT draws A with standard deviation 1 / r.
                    Init.Normal(a.Weight, 0, 1.0 / r, generator);
                    Init.Zeros(b.Weight);
                    break;
                case LoraInit.Pissa:
                case LoraInit.Olora:
                {
                    var (fa, fb) = c.InitLoraWeights == LoraInit.Pissa ? LowRankInit.Pissa(weight, r, settings.Scaling) : LowRankInit.Olora(weight, r);
                    a.Weight.CopyFrom(fa);
                    b.Weight.CopyFrom(fb);
                    _initialFactors[name] = (a.Weight.Detach().Clone(), b.Weight.Detach().Clone());
                    // The principal part moves into the adapter; the residual W0 - s B A stays in the base, so the
                    // layer's output is unchanged at step 0 (Meng et al. 2024, equation 5).
                    weight.CopyFrom(weight.Detach() - (fb.To(DType.Float64) % fa.To(DType.Float64) * settings.Scaling).To(weight.DType));
                    break;
                }
            }
        }
        _settings[name] = settings;
        DropoutDict.Add(name, new Dropout(c.LoraDropout));
        ADict.Add(name, a);
        BDict.Add(name, b);
        // DoRA: m starts at the row norms of W0 (after any PiSSA/OLoRA residual), so W' = W0 at step 0.
        if (c.UseDora) MagnitudeDict.Add(name, new DoraMagnitude(DoraNorm(name).Detach()));
        Train(Training);
    }

    /// <inheritdoc/>
    protected override void RemoveAdapter(string name)
    {
        if (!_settings.Remove(name)) throw new KeyNotFoundException($"LoraLayer: no adapter named '{name}'");
        _initialFactors.Remove(name);
        RemoveFromDict<Dropout>("lora_dropout", name);
        RemoveFromDict<Linear>("lora_A", name);
        RemoveFromDict<Linear>("lora_B", name);
        if (MagnitudeDict.Keys.Contains(name)) RemoveFromDict<DoraMagnitude>("lora_magnitude_vector", name);
    }

    /// <inheritdoc/>
    public override IEnumerable<(string Key, Tensor Tensor)> AdapterTensors(string name)
    {
        yield return ("lora_A.weight", LoraA(name));
        yield return ("lora_B.weight", LoraB(name));
        // PEFT strips ".weight" from the magnitude's key in files (in memory it is lora_magnitude_vector.<name>.weight).
        if (Magnitude(name) is { } m) yield return ("lora_magnitude_vector", m);
    }

    /// <summary>s B A [out, in] (Hu et al. 2021, section 4.1).</summary>
    public override Tensor DeltaWeight(string name) => LoraB(name) % LoraA(name) * Settings(name).Scaling;

    // ||W0 + s B A||_c: the L2 norm of each output row (PEFT's weight norm over the input dimension).
    Tensor DoraNorm(string name) => (BaseLayer.Weight + DeltaWeight(name)).Norm(2, [1]);

    /// <inheritdoc/>
    protected override Tensor AddContributions(Tensor input, Tensor result, IReadOnlyList<string> adapters)
    {
        foreach (var name in adapters)
        {
            var s = _settings[name];
            var x = DropoutDict[name].Forward(input);
            var lora = BDict[name].Forward(ADict[name].Forward(x)) * s.Scaling;
            if (!s.UseDora)
            {
                result = result + lora;
                continue;
            }
            // DoRA (Liu et al. 2024, equation 5): x W'^T = (m / ||V||_c) (x W0^T + s x A^T B^T); the norm is a
            // constant in the backward pass (section 4.3). Written as a correction of the base output.
            var norm = DoraNorm(name);
            if (s.DetachNorm) norm = norm.Detach();
            var scale = MagnitudeDict[name].Weight / norm;
            var w0 = BaseLayer.Weight;
            var shape = x.Shape;
            shape[^1] = OutFeatures;
            var baseNoBias = x.Reshape(-1, InFeatures).MatMul(w0.T).Reshape(shape);
            result = result + (scale - 1) * baseNoBias + scale * lora;
        }
        return result;
    }

    /// <inheritdoc/>
    protected override Tensor MergeWeight(Tensor weight, string name)
    {
        if (!_settings[name].UseDora) return base.MergeWeight(weight, name);
        // W' = m (W0 + s B A) / ||W0 + s B A||_c; the norm is kept to undo the merge exactly.
        var norm = (weight + DeltaWeight(name)).Norm(2, [1]);
        _doraMergeNorm[name] = norm;
        return (weight + DeltaWeight(name)) * (MagnitudeDict[name].Weight.Detach() / norm).Unsqueeze(1);
    }

    /// <inheritdoc/>
    protected override Tensor UnmergeWeight(Tensor weight, string name)
    {
        if (!_settings[name].UseDora) return base.UnmergeWeight(weight, name);
        var norm = _doraMergeNorm[name];
        _doraMergeNorm.Remove(name);
        return weight / (MagnitudeDict[name].Weight.Detach() / norm).Unsqueeze(1) - DeltaWeight(name);
    }

    /// <summary>
    /// Adds adapter <paramref name="name"/> with given factors (and DoRA magnitude), bypassing initialisation: used to
    /// load files and to build combined adapters.
    /// </summary>
    internal void AddAdapterFromTensors(string name, LoraAdapterSettings settings, Tensor a, Tensor b, Tensor? magnitude, double dropout)
    {
        if (_settings.ContainsKey(name)) throw new ArgumentException($"LoraLayer: already has an adapter named '{name}'");
        var la = new Linear(InFeatures, settings.R, bias: false);
        var lb = new Linear(settings.R, OutFeatures, bias: false);
        la.To(BaseLayer.Weight.DType);
        lb.To(BaseLayer.Weight.DType);
        using (Autograd.Autograd.NoGrad())
        {
            la.Weight.CopyFrom(a);
            lb.Weight.CopyFrom(b);
        }
        _settings[name] = settings;
        DropoutDict.Add(name, new Dropout(dropout));
        ADict.Add(name, la);
        BDict.Add(name, lb);
        if (settings.UseDora) MagnitudeDict.Add(name, new DoraMagnitude((magnitude ?? DoraNorm(name).Detach()).To(BaseLayer.Weight.DType)));
        Train(Training);
    }

    // FNV-1a: string.GetHashCode differs between processes, seeds must not.
    static ulong StableHash(string s)
    {
        ulong h = 14695981039346656037;
        foreach (char ch in s) h = (h ^ ch) * 1099511628211;
        return h;
    }
}

/// <summary>One LoRA adapter's fixed settings on one layer.</summary>
/// <param name="R">Rank.</param>
/// <param name="Alpha">alpha.</param>
/// <param name="Scaling">s = alpha / r (rsLoRA: alpha / sqrt r).</param>
/// <param name="UseDora">DoRA's magnitude and direction.</param>
/// <param name="DetachNorm">DoRA's norm is a constant in the backward pass.</param>
/// <param name="Init">How A and B were initialised.</param>
public sealed record LoraAdapterSettings(int R, double Alpha, double Scaling, bool UseDora, bool DetachNorm, LoraInit Init);
