namespace Engine.Peft.Subspace;

/// <summary>
/// A <see cref="Linear"/> with PEANuT adapters (PEFT's <c>peanut.Linear</c>): with W0 [out, in] the unmerged weight,
/// H = act(W0ᵀ Aᵀ) [in, r]; each encoder i keeps H_i = H and sets H = act(H E_iᵀ); each decoder i sets
/// H = act(H D_iᵀ) + H_{depth-1-i}; ΔW = s (H Bᵀ)ᵀ. Keys <c>peanut_A.weight</c> [r, out], <c>peanut_B.weight</c>
/// [out, r], <c>peanut_encoders.i.weight</c> and <c>peanut_decoders.i.weight</c> [r, r]. PEFT's init: A and the hidden
/// layers Kaiming-uniform (a = sqrt 5), B = 0.
/// </summary>
public sealed class PeanutLayer : WeightAwareAdapterLayer
{
    sealed record PeanutSettings(int Depth, double Scaling, Func<Tensor, Tensor> Act);

    /// <summary>Wraps <paramref name="baseLayer"/>.</summary>
    public PeanutLayer(Linear baseLayer) : base(baseLayer) { }

    /// <inheritdoc/>
    public override IEnumerable<PlannedTensor> PlanAdapter(AdapterContext context)
    {
        var c = context.ConfigAs<PeanutConfig>();
        if (c.R < 1) throw new ArgumentException($"PeanutLayer: r must be positive at '{context.Path.External}', got {c.R}");
        yield return Planned("peanut_A", "weight", c.R, OutFeatures);
        yield return Planned("peanut_B", "weight", OutFeatures, c.R);
        for (int i = 0; i < c.Depth; i++)
        {
            yield return Planned("peanut_encoders", $"{i}.weight", c.R, c.R);
            yield return Planned("peanut_decoders", $"{i}.weight", c.R, c.R);
        }
    }

    /// <inheritdoc/>
    protected override void CreateAdapter(AdapterContext context)
    {
        var c = context.ConfigAs<PeanutConfig>();
        var name = context.Name;
        var g = context.Generator;
        SetState(name, new PeanutSettings(c.Depth, c.Scaling, HfActivation.Get(c.ActFn)));
        // nn.Linear's Kaiming-uniform (a = sqrt 5) for every layer; A reads the weight's output dimension.
        AddModule("peanut_A", name, new Linear(OutFeatures, c.R, bias: false, g));
        if (c.Depth > 0)
        {
            AddModule("peanut_encoders", name, new ModuleList<Linear>(Enumerable.Range(0, c.Depth).Select(_ => new Linear(c.R, c.R, bias: false, g)).ToList()));
            AddModule("peanut_decoders", name, new ModuleList<Linear>(Enumerable.Range(0, c.Depth).Select(_ => new Linear(c.R, c.R, bias: false, g)).ToList()));
        }
        var b = AddModule("peanut_B", name, new Linear(c.R, OutFeatures, bias: false, g));
        if (c.InitWeights) using (Autograd.Autograd.NoGrad()) Init.Zeros(b.Weight);
    }

    /// <summary>H [in, r]: the network's output before B, for the weight <paramref name="baseWeight"/> [out, in].</summary>
    Tensor Hidden(string name, Tensor baseWeight)
    {
        var s = State<PeanutSettings>(name);
        var h = s.Act(LinearMap(baseWeight.T, ModuleOf<Linear>("peanut_A", name).Weight));
        if (s.Depth == 0) return h;
        var residuals = new List<Tensor>();
        foreach (var encoder in ModuleOf<ModuleList<Linear>>("peanut_encoders", name).Items)
        {
            residuals.Add(h);
            h = s.Act(encoder.Forward(h));
        }
        int i = 0;
        foreach (var decoder in ModuleOf<ModuleList<Linear>>("peanut_decoders", name).Items)
            h = s.Act(decoder.Forward(h)) + residuals[s.Depth - 1 - i++];
        return h;
    }

    /// <summary>s B Hᵀ [out, in].</summary>
    public override Tensor DeltaFor(string name, Tensor baseWeight) =>
        ModuleOf<Linear>("peanut_B", name).Weight % Hidden(name, baseWeight).T * State<PeanutSettings>(name).Scaling;

    /// <summary>s ((x H) Bᵀ): ΔW is never formed.</summary>
    protected override Tensor Contribution(string name, Tensor x) =>
        LinearMap(LinearMap(x, Hidden(name, UnmergedWeight).T), ModuleOf<Linear>("peanut_B", name).Weight) * State<PeanutSettings>(name).Scaling;
}
