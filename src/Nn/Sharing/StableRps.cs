namespace Engine.Nn;

/// <summary>How the shared memory of <see cref="StableRps"/> starts.</summary>
public enum RpsInit
{
    /// <summary>z ~ U(−σ0, σ0), as FakeRoast's <c>ModelRoaster</c> (training from scratch; the layer scales carry each weight's std).</summary>
    Uniform,

    /// <summary>
    /// Compression of a trained model: z[j] = the mean of g[k]·W_l[k]/s_l over the weights mapped to cell j (their
    /// least-squares value; exact when the map is one-to-one, m ≥ n with RandomFold). Cells nobody maps to get 0.
    /// </summary>
    FromWeights,
}

/// <summary>Settings of <see cref="StableRps"/>; with the model's shape they determine every map, so a checkpoint needs only these and the state dict.</summary>
/// <param name="KeptFraction">c: the memory has m = ⌊c·n⌋ cells for n roasted weights (the reference's <c>sparsity</c> argument).</param>
/// <param name="Mapper">The location-to-cell map.</param>
/// <param name="Seed">Seed of the hash coefficients (the signs use seed + 1).</param>
/// <param name="InitStd">σ0 of the memory (the reference's <c>init_std</c>, default 0.04).</param>
/// <param name="Init">How z starts.</param>
public sealed record RpsSettings(double KeptFraction, RpsMapper Mapper = RpsMapper.RandomFold, ulong Seed = 2023, double InitStd = 0.04, RpsInit Init = RpsInit.Uniform)
{
    const string Prefix = "rps.";

    /// <summary>The settings as checkpoint values (<c>rps.kept_fraction</c>, <c>rps.mapper</c>, <c>rps.seed</c>, <c>rps.init_std</c>), round-trip exact.</summary>
    public Dictionary<string, string> ToValues() => new()
    {
        [Prefix + "kept_fraction"] = KeptFraction.ToString("R", System.Globalization.CultureInfo.InvariantCulture),
        [Prefix + "mapper"] = Mapper.ToString(),
        [Prefix + "seed"] = Seed.ToString(System.Globalization.CultureInfo.InvariantCulture),
        [Prefix + "init_std"] = InitStd.ToString("R", System.Globalization.CultureInfo.InvariantCulture),
    };

    /// <summary>
    /// The settings stored by <see cref="ToValues"/> (the memory's init is irrelevant when z is then loaded, and is
    /// <see cref="RpsInit.Uniform"/>).
    /// </summary>
    /// <exception cref="KeyNotFoundException">A value is missing.</exception>
    /// <exception cref="FormatException">A value does not parse.</exception>
    public static RpsSettings FromValues(IReadOnlyDictionary<string, string> values)
    {
        string Get(string key) => values.TryGetValue(Prefix + key, out var v) ? v
            : throw new KeyNotFoundException($"RpsSettings.FromValues: no '{Prefix + key}' value (was the checkpoint saved with StableRps settings?)");
        var culture = System.Globalization.CultureInfo.InvariantCulture;
        return new RpsSettings(double.Parse(Get("kept_fraction"), culture),
            Enum.TryParse<RpsMapper>(Get("mapper"), out var mapper) ? mapper : throw new FormatException($"RpsSettings.FromValues: unknown mapper '{Get("mapper")}'"),
            ulong.Parse(Get("seed"), culture), double.Parse(Get("init_std"), culture));
    }
}

/// <summary>
/// Randomized parameter sharing on a GPT: ROAST (Desai et al. 2022) and STABLE-RPS ("In defense of parameter sharing",
/// Desai and Shrivastava, ICLR 2024); spec adapters-other.md §16 and pitfall 10, structure-and-optimizers.md 1.5;
/// reference apd10/FakeRoast <c>FakeRoastUtil_v2.py</c> (<c>ModelRoasterGradScaler</c>, <c>RoastGradScaler</c>,
/// <c>RoastToFullModel</c>). Every block Linear's weight (attention qkv and proj, MLP fc and proj —
/// <see cref="GptLinears"/>) becomes a <see cref="ComputedLinear"/> over a <see cref="RoastWeight"/> that reads one
/// global trainable memory z ∈ R^m. Biases, LayerNorms, embeddings and the head stay dense: the reference would roast
/// nn.Embedding too, but the GPT's token table is also its tied head, and compressing it is left out here.
/// <code>
/// var rps = StableRps.Apply(gpt, new RpsSettings(KeptFraction: 0.1), generator);
/// loss.Backward(); rps.ScaleGradients(); optimizer.Step();
/// </code>
/// Differences from the reference: one hash (and one sign hash) for the whole model, seeded once, where FakeRoast seeds a
/// hasher per module — with per-module hashes a RandomFold partition straddling two modules is no longer a cyclic shift,
/// and the paper's load guarantee (every cell serves ⌊n/m⌋ or ⌈n/m⌉ weights) fails; the signs come from a hash of the
/// location (the reference's <c>get_general_g</c>) instead of torch's generator.
/// </summary>
public sealed class StableRps
{
    readonly Gpt _model;
    readonly double[] _gradientScale;
    (Device Device, DType DType, Tensor Divisor)? _divisor;

    StableRps(Gpt model, RpsSettings settings, long roasted, long memory, IReadOnlyList<RoastWeight> layers, double[] gradientScale, long[] load)
    {
        _model = model;
        Settings = settings;
        RoastedWeights = roasted;
        MemorySize = memory;
        Layers = layers;
        _gradientScale = gradientScale;
        Load = load;
    }

    /// <summary>The settings it was applied with.</summary>
    public RpsSettings Settings { get; }

    /// <summary>n: the number of roasted weights.</summary>
    public long RoastedWeights { get; }

    /// <summary>m: the cells of the memory.</summary>
    public long MemorySize { get; }

    /// <summary>The roasted weights, in global-location order.</summary>
    public IReadOnlyList<RoastWeight> Layers { get; }

    /// <summary>How many weights each cell serves.</summary>
    public IReadOnlyList<long> Load { get; }

    /// <summary>The shared memory z (read from the model, so it follows <see cref="Module.To(DType)"/>).</summary>
    public Tensor Memory => Layers[0].Memory;

    /// <summary>
    /// STABLE-RPS's gradient scale per cell ("v1", the reference default): A_j²/(1e-3 + count_j), with
    /// count_j = Σ_l (n_lj + 1e-3) and A_j = Σ_l s_l (n_lj + 1e-3), n_lj the weights of layer l mapped to j — the reference
    /// adds 1e-3 to each module's per-cell count before accumulating (pitfall 10), reproduced here.
    /// </summary>
    public IReadOnlyList<double> GradientScale => _gradientScale;

    /// <summary>
    /// Roasts <paramref name="model"/> in place: m = ⌊c·n⌋, offsets in <see cref="GptLinears"/> order, s_l = std(W_l)/σ0
    /// (unbiased std of the current weight, the reference's <c>req_scale</c>), z as <see cref="RpsSettings.Init"/> says.
    /// <paramref name="generator"/> draws the uniform memory.
    /// </summary>
    /// <exception cref="ArgumentException">The fraction gives no memory, or the model has no block Linears.</exception>
    public static StableRps Apply(Gpt model, RpsSettings settings, Generator? generator = null)
    {
        var targets = GptLinears.Of(model);
        if (targets.Count == 0) throw new ArgumentException("StableRps.Apply: the model has no block Linears to roast");
        long n = targets.Sum(t => t.Linear.Weight.Numel);
        long m = (long)Math.Floor(settings.KeptFraction * n);
        if (settings.KeptFraction <= 0 || m < 1)
            throw new ArgumentException($"StableRps.Apply: kept fraction {settings.KeptFraction} of {n} weights leaves no memory");
        if (m > int.MaxValue) throw new ArgumentException($"StableRps.Apply: a memory of {m} cells is more than one tensor holds");
        if (settings.InitStd <= 0) throw new ArgumentException($"StableRps.Apply: σ0 must be positive, got {settings.InitStd}");

        var first = targets[0].Linear.Weight;
        var z = Tensor.Zeros([(int)m], first.DType, first.Device);
        var hash = new UniversalHash(settings.Seed);
        var signHash = new UniversalHash(settings.Seed + 1);
        var load = new long[m];
        var count = new double[m];
        var aggregate = new double[m];
        var sum = new double[m];
        var layers = new List<RoastWeight>();
        long offset = 0;
        foreach (var target in targets)
        {
            var linear = target.Linear;
            int rows = linear.OutFeatures, cols = linear.InFeatures;
            var w = linear.Weight.Detach();
            double scale = w.Std().ToDoubleArray()[0] / settings.InitStd;
            if (!(scale > 0)) throw new ArgumentException($"StableRps.Apply: layer {target.Layer} '{target.Kind}' has a constant weight (std 0), so its scale is 0");
            var index = RpsMapping.Indices(settings.Mapper, hash, offset, rows, cols, m);
            var sign = RpsMapping.Signs(signHash, offset, (long)rows * cols);
            var values = w.ToDoubleArray();
            var moduleCount = new double[m];
            for (long k = 0; k < index.LongLength; k++)
            {
                moduleCount[index[k]] += 1;
                sum[index[k]] += sign[k] * values[k] / scale;
            }
            for (long j = 0; j < m; j++)
            {
                load[j] += (long)moduleCount[j];
                // FakeRoast's wt_orig_to_comp: the module's count plus 1e-3 in every cell.
                count[j] += moduleCount[j] + 1e-3;
                aggregate[j] += (moduleCount[j] + 1e-3) * scale;
            }
            var source = new RoastWeight(z, rows, cols, index, sign, scale, offset);
            target.Replace(new ComputedLinear(source, linear.Bias));
            layers.Add(source);
            offset += (long)rows * cols;
        }

        using (Autograd.Autograd.NoGrad())
        {
            if (settings.Init == RpsInit.Uniform)
                Init.Uniform(z, -settings.InitStd, settings.InitStd, generator);
            else
                z.CopyFrom(Tensor.FromArray(sum.Select((s, j) => load[j] == 0 ? 0 : s / load[j]).ToArray()).To(z.DType).To(z.Device));
        }
        var scaleV1 = new double[m];
        for (long j = 0; j < m; j++) scaleV1[j] = aggregate[j] * aggregate[j] / (1e-3 + count[j]);
        return new StableRps(model, settings, n, m, layers, scaleV1, load);
    }

    /// <summary>
    /// STABLE-RPS's gradient scaling (FakeRoast's <c>RoastGradScaler.scale_step</c>): z.grad ← z.grad / (1e-6 + scale_j)
    /// with <see cref="GradientScale"/>. Call it after the backward pass and before the optimiser step, as FakeRoast's
    /// sample loop does (<c>sample_usage/roasted.py</c>, which does not clip); <see cref="RpsTrainingModel"/> makes the
    /// <see cref="Trainer"/> call it. Does nothing when z has no gradient.
    /// </summary>
    public void ScaleGradients()
    {
        var z = Memory;
        if (z.Grad is null) return;
        if (_divisor is not { } d || d.Device != z.Device || d.DType != z.DType)
        {
            var divisor = Tensor.FromArray(_gradientScale.Select(s => 1e-6 + s).ToArray()).To(z.DType).To(z.Device);
            _divisor = d = (z.Device, z.DType, divisor);
        }
        using (Autograd.Autograd.NoGrad()) z.Grad = z.Grad / d.Divisor;
    }

    /// <summary>
    /// FakeRoast's <c>RoastToFullModel</c>: replaces every roasted layer of the model by a dense Linear with its current
    /// weight, in place; the memory is then unused. Returns the number of layers expanded.
    /// </summary>
    public int ToDense() => ComputedLinear.Densify(_model);

    /// <summary>Parameters of the model after roasting: m + the dense rest (the memory counted once).</summary>
    public long ParameterCount => _model.ParameterCount();
}
