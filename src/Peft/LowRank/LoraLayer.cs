using Engine.Peft.Mixture;

namespace Engine.Peft.LowRank;

/// <summary>
/// A <see cref="Linear"/> with LoRA adapters (Hu et al. 2021): y = x W0^T + b0 + sum over active adapters of
/// s B(A(dropout(x))), with A [r, in] (<c>lora_A</c>), B [out, r] (<c>lora_B</c>) and s = alpha / r (rsLoRA:
/// alpha / sqrt r). Variants that change the forward or the merge (DoRA) are <see cref="ILoraVariant"/> strategies.
/// Sub-modules follow PEFT's layout: <c>base_layer</c>, <c>lora_dropout.{name}</c>, <c>lora_A.{name}</c>,
/// <c>lora_B.{name}</c>, <c>lora_magnitude_vector.{name}</c>.
/// </summary>
public sealed class LoraLayer : AdditiveAdapterLayer
{
    /// <summary>Wraps <paramref name="baseLayer"/>; add adapters with <see cref="AdapterLayer.AddAdapter"/>.</summary>
    public LoraLayer(Linear baseLayer) : base(baseLayer) { }

    /// <summary>Rank, alpha, scale, initialisation and variant of adapter <paramref name="name"/>.</summary>
    public LoraAdapterSettings Settings(string name) => State<LoraAdapterSettings>(name);

    /// <summary>A [r, in] of adapter <paramref name="name"/>.</summary>
    public Tensor LoraA(string name) => ModuleOf<Linear>("lora_A", name).Weight;

    /// <summary>B [out, r] of adapter <paramref name="name"/>.</summary>
    public Tensor LoraB(string name) => ModuleOf<Linear>("lora_B", name).Weight;

    /// <summary>A0 and B0 of a PiSSA/OLoRA/CorDA/LoRA-GA adapter as initialised (whose product was moved out of the base weight), or null.</summary>
    public (Tensor A, Tensor B)? InitialFactors(string name) => Settings(name).Principal is { } p ? (p.A0, p.B0) : null;

    /// <summary>The DoRA magnitude m [out] of adapter <paramref name="name"/>, or null for other variants.</summary>
    public Tensor? Magnitude(string name) => Settings(name).Variant is DoraVariant ? Parameter(DoraVariant.MagnitudeKey, name) : null;

    /// <inheritdoc/>
    public override IEnumerable<PlannedTensor> PlanAdapter(AdapterContext context)
    {
        var c = context.ConfigAs<LoraConfig>();
        int r = Rank(c, context.Path);
        var variant = QaLoraVariant.AsPeftLoads(LoraVariants.For(c, context.Path), this, context);
        var (a, b) = FactorShapes(variant, r);
        var planned = new List<PlannedTensor> { Planned("lora_A", "weight", a), Planned("lora_B", "weight", b) };
        if (c.UseDora) planned.Add(Planned(DoraVariant.MagnitudeKey, null, OutFeatures));
        foreach (var (container, shape) in variant?.ExtraParameters(this, r) ?? []) planned.Add(Planned(container, null, shape));
        if (c.InitLoraWeights == LoraInit.Orthogonal && r % 2 != 0) throw new ArgumentException($"LoraLayer: orthogonal initialisation needs an even rank, got {r} for '{context.Path.External}'");
        if (c.InitLoraWeights == LoraInit.Loftq && r > Math.Min(InFeatures, OutFeatures))
            throw new ArgumentException($"LoraLayer: LoftQ's rank {r} exceeds min(out, in) = {Math.Min(InFeatures, OutFeatures)} of '{context.Path.External}'");
        return planned;
    }

    (int[] A, int[] B) FactorShapes(ILoraVariant? variant, int r) => variant?.FactorShapes(this, r) ?? ([r, InFeatures], [OutFeatures, r]);

    static int Rank(LoraConfig c, ModulePath path)
    {
        int r = c.RankFor(path);
        if (r < 1) throw new ArgumentException($"LoraLayer: rank must be positive, got {r} for '{path.External}'");
        return r;
    }

    /// <inheritdoc/>
    protected override void CreateAdapter(AdapterContext context)
    {
        var c = context.ConfigAs<LoraConfig>();
        var name = context.Name;
        int r = Rank(c, context.Path);
        double alpha = c.AlphaFor(context.Path);
        var variant = QaLoraVariant.AsPeftLoads(LoraVariants.For(c, context.Path), this, context);
        var settings = new LoraAdapterSettings(r, alpha, c.Scaling(r, alpha), c.InitLoraWeights, variant, null);
        SetState(name, settings);
        var g = context.Generator;
        var (shapeA, shapeB) = FactorShapes(variant, r);

        AddDropout("lora_dropout", name, c.LoraDropout, g);
        // nn.Linear's Kaiming-uniform (a = sqrt 5) for A, as PEFT's default (Hu et al. 2021, section 4.1: B = 0).
        var a = AddModule("lora_A", name, new Linear(shapeA[1], shapeA[0], bias: false, g));
        var b = AddModule("lora_B", name, new Linear(shapeB[1], shapeB[0], bias: false, g));
        using (Autograd.Autograd.NoGrad())
        {
            switch (c.InitLoraWeights)
            {
                case LoraInit.Default: Init.Zeros(b.Weight); break;
                case LoraInit.Random: break;
                // MiCA's factors come from its variant's Init.
                case LoraInit.Mica: break;
                case LoraInit.Orthogonal:
                {
                    var (oa, ob) = LowRankInit.Orthogonal(r, InFeatures, OutFeatures, g);
                    a.Weight.CopyFrom(oa.To(a.Weight.DType));
                    b.Weight.CopyFrom(ob.To(b.Weight.DType));
                    break;
                }
                case LoraInit.Eva:
                    // A from the calibration (EvaInit); a file being loaded brings its own A.
                    if (!context.FromFile)
                    {
                        var eva = context.CalibrationAs<EvaInit.Share>();
                        if (eva.A.Size(0) != r || eva.A.Size(1) != InFeatures)
                            throw new InvalidOperationException($"LoraLayer: EVA's A for '{context.Path.External}' is {Shapes.Format(eva.A.Shape)}, expected [{r}, {InFeatures}]");
                        a.Weight.CopyFrom(eva.A.To(a.Weight.DType).To(a.Weight.Device));
                    }
                    Init.Zeros(b.Weight);
                    break;
                case LoraInit.Gaussian:
                    // PEFT draws A with standard deviation 1 / r.
                    Init.Normal(a.Weight, 0, 1.0 / r, g);
                    Init.Zeros(b.Weight);
                    break;
                case LoraInit.Pissa:
                case LoraInit.Olora:
                case LoraInit.Corda:
                case LoraInit.LoraGa:
                {
                    var weight = BaseLayer.Weight;
                    var (fa, fb) = c.InitLoraWeights switch
                    {
                        LoraInit.Pissa => LowRankInit.Pissa(weight, r, settings.Scaling),
                        LoraInit.Olora => LowRankInit.Olora(weight, r),
                        LoraInit.Corda => Corda.Factors(weight, context.CalibrationAs<Corda.Covariance>(), r, settings.Scaling, (c.CordaConfig ?? new CordaConfig()).CordaMethod),
                        _ => LoraGa.Factors(weight, context.CalibrationAs<LoraGa.Gradient>(), r, settings.Scaling, c.LoraGaConfig!,
                            // PEFT's d_out of the stable scale is weight.shape[0]: a Conv1D layer's input width.
                            context.Model?.Naming?.IsConv1D(context.Path.Engine) == true ? InFeatures : OutFeatures, g),
                    };
                    a.Weight.CopyFrom(fa);
                    b.Weight.CopyFrom(fb);
                    var original = weight.Detach().Clone();
                    // The principal part moves into the adapter; the residual W0 - s B A stays in the base, so the
                    // layer's output is unchanged at step 0 (Meng et al. 2024, equation 5; CorDA and LoRA-GA alike).
                    weight.CopyFrom(weight.Detach() - (fb.To(DType.Float64) % fa.To(DType.Float64) * settings.Scaling).To(weight.DType));
                    SetState(name, settings with { Principal = new(fa.Clone(), fb.Clone(), original, weight.Detach().Clone()) });
                    break;
                }
                case LoraInit.Loftq:
                {
                    // LoftQ (Li et al. 2023, algorithm 1): the base becomes its dequantised quantisation Q and B A
                    // approximates W - Q, as PEFT's loftq_init (computed again on load, as PEFT's update_layer does).
                    var weight = BaseLayer.Weight;
                    var loftq = c.LoftqConfig ?? throw new ArgumentException("LoraLayer: init_lora_weights 'loftq' needs loftq_config");
                    // Where Hugging Face stores the layer as Conv1D ([in, out], PEFT's fan_in_fan_out), PEFT's quantiser
                    // reads that layout: the blocks run over Wᵀ, so the base equals PEFT's Q.
                    bool conv1D = context.Model?.Naming is { } naming && naming.IsConv1D(context.Path.Engine);
                    var (fa, fb, q) = LoftqInit.Compute(weight, r, loftq.LoftqBits, loftq.LoftqIter, conv1D);
                    a.Weight.CopyFrom(fa.To(a.Weight.DType).To(a.Weight.Device));
                    b.Weight.CopyFrom(fb.To(b.Weight.DType).To(b.Weight.Device));
                    var original = weight.Detach().Clone();
                    weight.CopyFrom(q.To(weight.DType).To(weight.Device));
                    SetState(name, settings with { Principal = new(fa, fb, original, weight.Detach().Clone()) });
                    break;
                }
            }
        }
        settings.Variant?.Init(this, name, g);
    }

    /// <summary>Puts back what a PiSSA/OLoRA/CorDA/LoRA-GA/LoftQ adapter took out of the base weight (exactly, when nothing else changed it).</summary>
    protected override void OnRemoving(string name)
    {
        // A failed add may stop before the settings exist.
        if (!TryState<LoraAdapterSettings>(name, out var settings)) return;
        settings.Variant?.OnRemoving(this, name);
        if (settings.Principal is not { } p) return;
        using var _ = Autograd.Autograd.NoGrad();
        var weight = BaseLayer.Weight;
        bool untouched = weight.Detach().ToDoubleArray().AsSpan().SequenceEqual(p.Residual.ToDoubleArray());
        // LoftQ's base lost W - Q, not s B0 A0 (which only approximates it).
        var moved = settings.Init == LoraInit.Loftq ? p.Original.To(DType.Float64) - p.Residual.To(DType.Float64)
            : p.B0.To(DType.Float64) % p.A0.To(DType.Float64) * Settings(name).Scaling;
        weight.CopyFrom(untouched ? p.Original : (weight.Detach().To(DType.Float64) + moved).To(weight.DType));
    }

    /// <summary>s B A [out, in] (Hu et al. 2021, section 4.1).</summary>
    public override Tensor DeltaWeight(string name) => Settings(name).Variant?.DeltaWeight(this, name) ?? LoraB(name) % LoraA(name) * Settings(name).Scaling;

    /// <inheritdoc/>
    protected override Tensor Contribution(string name, Tensor x) =>
        Settings(name).Variant?.Contribution(this, name, x) ?? FactorB(name).Forward(FactorA(name).Forward(x)) * Settings(name).Scaling;

    /// <inheritdoc/>
    protected override Tensor ForwardAdapters(Tensor input, IReadOnlyList<string> adapters)
    {
        var result = BaseLayer.Forward(input);
        foreach (var name in adapters)
        {
            // Inside an X-LoRA forward an expert's input is scaled per token, and its output by the global weight.
            if (XLoraMixing.Current?.For(this, name, input) is { } mix)
                result = result + Contribution(name, Dropout(name, input * mix.Scale)) * mix.Weight;
            else result = Settings(name).Variant is { } v ? v.Forward(this, name, input, result) : result + Contribution(name, Dropout(name, input));
        }
        return result;
    }

    /// <inheritdoc/>
    public override string? MergeRefusal(string name) => Settings(name).Variant?.MergeRefusal;

    /// <inheritdoc/>
    public override bool IsMergeable(string name) => MergeRefusal(name) is null;

    /// <inheritdoc/>
    protected override (Tensor Weight, Tensor? Bias) MergeWeights(string name, Tensor weight, Tensor? bias) =>
        Settings(name).Variant is { } v ? (v.Merge(this, name, weight), bias) : base.MergeWeights(name, weight, bias);

    /// <inheritdoc/>
    protected override (Tensor Weight, Tensor? Bias) UnmergeWeights(string name, Tensor weight, Tensor? bias) =>
        Settings(name).Variant is { } v ? (v.Unmerge(this, name, weight), bias) : base.UnmergeWeights(name, weight, bias);

    // Access for variants, which keep their tensors in this layer's containers.
    internal Tensor AddVariantParameter(string container, string name, Tensor value) => AddParameter(container, name, value);
    internal Tensor VariantParameter(string container, string name) => Parameter(container, name);
    internal T AddVariantModule<T>(string container, string name, T module) where T : Module => AddModule(container, name, module);
    internal T VariantModule<T>(string container, string name) where T : Module => ModuleOf<T>(container, name);
    internal Tensor AddVariantBuffer(string container, string name, Tensor value) => AddBuffer(container, name, value);
    internal Tensor VariantBuffer(string container, string name) => Buffer(container, name);
    internal Tensor VariantDropout(string name, Tensor x) => Dropout(name, x);
    internal bool VariantDropoutIsIdentity(string name) => DropoutIsIdentity(name);
    internal Tensor VariantContribution(string name, Tensor x) => Contribution(name, x);
    internal Linear FactorA(string name) => ModuleOf<Linear>("lora_A", name);
    internal Linear FactorB(string name) => ModuleOf<Linear>("lora_B", name);
    internal void FreezeFactor(string container, string name) => FreezeTensor(container, name);

    /// <summary>Sets A and B of adapter <paramref name="name"/> (loading, weighted combinations).</summary>
    internal void SetFactors(string name, Tensor a, Tensor b)
    {
        using var _ = Autograd.Autograd.NoGrad();
        LoraA(name).CopyFrom(a.To(LoraA(name).DType));
        LoraB(name).CopyFrom(b.To(LoraB(name).DType));
    }
}

/// <summary>One LoRA adapter's fixed settings on one layer.</summary>
/// <param name="R">Rank.</param>
/// <param name="Alpha">alpha.</param>
/// <param name="Scaling">s = alpha / r (rsLoRA: alpha / sqrt r).</param>
/// <param name="Init">How A and B were initialised.</param>
/// <param name="Variant">The variant strategy (DoRA), or null for plain LoRA.</param>
/// <param name="Principal">For PiSSA/OLoRA/CorDA/LoRA-GA (and LoftQ): the initial factors and the base weight before and after the residual (LoftQ: the quantised weight) was taken.</param>
public sealed record LoraAdapterSettings(int R, double Alpha, double Scaling, LoraInit Init, ILoraVariant? Variant, PrincipalPart? Principal)
{
    /// <summary>True for DoRA adapters.</summary>
    public bool UseDora => Variant is DoraVariant;
}

/// <summary>What a PiSSA/OLoRA/CorDA/LoRA-GA/LoftQ initialisation moved: A0, B0, the original base weight and the residual (LoftQ: the dequantised Q) left in its place.</summary>
public sealed record PrincipalPart(Tensor A0, Tensor B0, Tensor Original, Tensor Residual);
