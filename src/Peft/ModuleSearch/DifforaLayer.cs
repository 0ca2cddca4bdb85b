namespace Engine.Peft.ModuleSearch;

/// <summary>
/// A <see cref="Linear"/> with DiffoRA adapters (the engine's reading of arXiv 2502.08905, spec adapters-lowrank.md
/// section 3). During the search y = x W0ᵀ + b0 + σ(g) · s · B(A drop(x)) with the gate logit <c>diffora_gate</c> [1];
/// after discretisation a kept module is plain LoRA (s · B A, the gate folded into B) and a dropped one holds no
/// tensors and adds nothing. Containers as LoRA's: <c>lora_A.{name}</c>, <c>lora_B.{name}</c>, <c>lora_dropout.{name}</c>.
/// Mergeable in every phase: ΔW = σ(g) s B A during the search is a function of the weights alone, so merging then is exact too.
/// </summary>
public sealed class DifforaLayer : AdditiveAdapterLayer
{
    /// <summary>File key of the gate logit.</summary>
    public const string GateKey = "diffora_gate";

    /// <summary>Wraps <paramref name="baseLayer"/>.</summary>
    public DifforaLayer(Linear baseLayer) : base(baseLayer) { }

    /// <summary>The phase of adapter <paramref name="name"/> on this module.</summary>
    public DifforaPhase Phase(string name) => State<DifforaSettings>(name).Phase;

    /// <summary>A [r, in] of adapter <paramref name="name"/> (not after it was dropped).</summary>
    public Tensor LoraA(string name) => ModuleOf<Linear>("lora_A", name).Weight;

    /// <summary>B [out, r] of adapter <paramref name="name"/> (not after it was dropped).</summary>
    public Tensor LoraB(string name) => ModuleOf<Linear>("lora_B", name).Weight;

    /// <summary>The gate logit g [1] of adapter <paramref name="name"/> during the search.</summary>
    public Tensor Gate(string name) => Parameter(GateKey, name);

    /// <summary>The gate value σ(g) during the search, 1 for a kept module, 0 for a dropped one.</summary>
    public double GateValue(string name) => Phase(name) switch
    {
        DifforaPhase.Search => Gate(name).Detach().Sigmoid().Item(),
        DifforaPhase.Kept => 1,
        _ => 0,
    };

    static DifforaPhase PhaseFor(DifforaConfig c, ModulePath path) =>
        c.KeptModules is not { } kept ? DifforaPhase.Search : kept.Contains(path.External) ? DifforaPhase.Kept : DifforaPhase.Dropped;

    /// <inheritdoc/>
    public override IEnumerable<PlannedTensor> PlanAdapter(AdapterContext context)
    {
        var c = context.ConfigAs<DifforaConfig>();
        if (c.R < 1) throw new ArgumentException($"DifforaLayer: rank must be positive at '{context.Path.External}', got {c.R}");
        return PhaseFor(c, context.Path) switch
        {
            DifforaPhase.Search => [Planned("lora_A", "weight", c.R, InFeatures), Planned("lora_B", "weight", OutFeatures, c.R), Planned(GateKey, null, 1)],
            DifforaPhase.Kept => [Planned("lora_A", "weight", c.R, InFeatures), Planned("lora_B", "weight", OutFeatures, c.R)],
            _ => [],
        };
    }

    /// <inheritdoc/>
    protected override void CreateAdapter(AdapterContext context)
    {
        var c = context.ConfigAs<DifforaConfig>();
        // The plan validates the ranks with the message it gives.
        PlanAdapter(context).ToList();
        var phase = PhaseFor(c, context.Path);
        SetState(context.Name, new DifforaSettings(c.Scaling, phase));
        if (phase == DifforaPhase.Dropped) return;
        var g = context.Generator;
        AddDropout("lora_dropout", context.Name, c.LoraDropout, g);
        // LoRA's start (PEFT's default): A Kaiming-uniform (a = √5, nn.Linear's), B = 0.
        AddModule("lora_A", context.Name, new Linear(InFeatures, c.R, bias: false, g));
        var b = AddModule("lora_B", context.Name, new Linear(c.R, OutFeatures, bias: false, g));
        if (c.InitLoraWeights) using (Autograd.Autograd.NoGrad()) Init.Zeros(b.Weight);
        if (phase == DifforaPhase.Search) AddParameter(GateKey, context.Name, Tensor.Full([1], c.GateInit, BaseLayer.Weight.DType));
    }

    /// <summary>
    /// Ends the search for adapter <paramref name="name"/> on this module: when <paramref name="keep"/>, B ← σ(g) B and
    /// the gate is removed, so the module is plain LoRA with the same output; otherwise every tensor is removed.
    /// </summary>
    /// <exception cref="InvalidOperationException">The module is not in its search phase, or the adapter is merged.</exception>
    public void Discretise(string name, bool keep)
    {
        if (Phase(name) != DifforaPhase.Search) throw new InvalidOperationException($"DifforaLayer: adapter '{name}' at '{PathOf(name).External}' was already discretised");
        if (MergedAdapters.Contains(name)) throw new InvalidOperationException($"DifforaLayer: adapter '{name}' is merged; unmerge it before discretising");
        if (keep)
        {
            using (Autograd.Autograd.NoGrad())
            {
                var b = LoraB(name);
                b.CopyFrom((b.Detach() * Gate(name).Detach().Sigmoid()).To(b.DType));
            }
            RemoveTensors(name, GateKey);
        }
        else RemoveTensors(name, GateKey, "lora_A", "lora_B", "lora_dropout");
        SetState(name, State<DifforaSettings>(name) with { Phase = keep ? DifforaPhase.Kept : DifforaPhase.Dropped });
    }

    /// <inheritdoc/>
    protected override bool SkipsThisCall(string name) => Phase(name) == DifforaPhase.Dropped;

    /// <summary>σ(g) s B A during the search, s B A when kept, 0 when dropped [out, in].</summary>
    public override Tensor DeltaWeight(string name)
    {
        var s = State<DifforaSettings>(name);
        if (s.Phase == DifforaPhase.Dropped) return Tensor.Zeros([OutFeatures, InFeatures], BaseLayer.Weight.DType).To(BaseLayer.Weight.Device);
        var delta = LoraB(name) % LoraA(name) * s.Scaling;
        return s.Phase == DifforaPhase.Search ? delta * Gate(name).Sigmoid() : delta;
    }

    /// <inheritdoc/>
    protected override Tensor Contribution(string name, Tensor x)
    {
        var s = State<DifforaSettings>(name);
        var y = ModuleOf<Linear>("lora_B", name).Forward(ModuleOf<Linear>("lora_A", name).Forward(x)) * s.Scaling;
        return s.Phase == DifforaPhase.Search ? y * Gate(name).Sigmoid() : y;
    }
}

/// <summary>Where a DiffoRA adapter stands on one module.</summary>
public enum DifforaPhase
{
    /// <summary>Searching: the gate σ(g) scales the LoRA update.</summary>
    Search,

    /// <summary>Kept by the discretisation: plain LoRA.</summary>
    Kept,

    /// <summary>Dropped by the discretisation: no tensors, no effect.</summary>
    Dropped,
}

/// <summary>One DiffoRA adapter's settings on one layer.</summary>
/// <param name="Scaling">s = alpha / r.</param>
/// <param name="Phase">The module's phase.</param>
public sealed record DifforaSettings(double Scaling, DifforaPhase Phase);
