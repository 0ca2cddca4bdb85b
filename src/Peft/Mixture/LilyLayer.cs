namespace Engine.Peft.Mixture;

/// <summary>
/// A <see cref="Linear"/> with Lily adapters (PEFT's <c>lily/layer.py</c>, spec section C): h = x Aᵀ (<c>lily_A</c>,
/// [r, in]), router probabilities p = mean over every token of the batch of softmax(h Rᵀ) (<c>lily_router</c>,
/// [num_B, r]), the mixed expert B* = Σ_e p_e B_e with <c>lily_B</c> [num_B·r, out] read as [num_B, r, out], and
/// y = base(x) + s·h B*. A and B are shared with other layers (<see cref="LilySharing"/>); the router is this layer's.
/// No dropout (PEFT's Lily has none). Merging is refused: p depends on the batch.
/// </summary>
public sealed class LilyLayer : AdapterLayer
{
    /// <summary>Wraps <paramref name="baseLayer"/>.</summary>
    public LilyLayer(Linear baseLayer) : base(baseLayer) { }

    sealed record Settings(int R, int NumB, double Scaling);

    /// <summary>A [r, in] of adapter <paramref name="name"/> (possibly shared with other layers).</summary>
    public Linear A(string name) => ModuleOf<Linear>("lily_A", name);

    /// <summary>The experts' weight [num_B·r, out] of adapter <paramref name="name"/> (shared with the layers of its group).</summary>
    public Linear B(string name) => ModuleOf<Linear>("lily_B", name);

    /// <summary>The router R [num_B, r] of adapter <paramref name="name"/>.</summary>
    public Linear Router(string name) => ModuleOf<Linear>("lily_router", name);

    /// <inheritdoc/>
    public override IEnumerable<PlannedTensor> PlanAdapter(AdapterContext context)
    {
        var c = context.ConfigAs<LilyConfig>();
        return [Planned("lily_A", "weight", c.R, InFeatures), Planned("lily_B", "weight", c.NumB * c.R, OutFeatures), Planned("lily_router", "weight", c.NumB, c.R)];
    }

    /// <inheritdoc/>
    protected override void CreateAdapter(AdapterContext context)
    {
        var c = context.ConfigAs<LilyConfig>();
        var g = context.Generator;
        SetState(context.Name, new Settings(c.R, c.NumB, c.Scaling));
        // nn.Linear's Kaiming-uniform (a = √5) for A and the router; B = 0 unless init_weights is false (PEFT's reset_lily_parameters).
        AddModule("lily_A", context.Name, new Linear(InFeatures, c.R, bias: false, g));
        var b = AddModule("lily_B", context.Name, new Linear(OutFeatures, c.NumB * c.R, bias: false, g));
        AddModule("lily_router", context.Name, new Linear(c.R, c.NumB, bias: false, g));
        if (c.InitWeights) using (Autograd.Autograd.NoGrad()) Init.Zeros(b.Weight);
    }

    /// <summary>Makes adapter <paramref name="name"/> use <paramref name="a"/> and <paramref name="b"/> (another layer's), as PEFT's _post_injection_hook does.</summary>
    internal void Share(string name, Linear? a, Linear? b)
    {
        if (a is not null) ReplaceModuleEntry("lily_A", name, a);
        if (b is not null) ReplaceModuleEntry("lily_B", name, b);
    }

    /// <summary>The mixture weights p [num_B] of adapter <paramref name="name"/> for the input <paramref name="x"/> [..., in]: softmax(A x, R) averaged over every token.</summary>
    public Tensor RouterProbabilities(string name, Tensor x) => RouterProbabilitiesOf(name, Hidden(name, x));

    Tensor Hidden(string name, Tensor x) => A(name).Forward(x);

    Tensor RouterProbabilitiesOf(string name, Tensor hidden) =>
        Router(name).Forward(hidden).Softmax(-1).Reshape(-1, State<Settings>(name).NumB).Mean(0);

    /// <inheritdoc/>
    protected override Tensor ForwardAdapters(Tensor input, IReadOnlyList<string> adapters)
    {
        var result = BaseLayer.Forward(input);
        foreach (var name in adapters)
        {
            var s = State<Settings>(name);
            var hidden = Hidden(name, input);
            var p = RouterProbabilitiesOf(name, hidden);
            // B* = Σ_e p_e B_e [r, out] (PEFT's einsum "e,eio->io").
            var combined = (p.Reshape(s.NumB, 1, 1) * B(name).Weight.Reshape(s.NumB, s.R, OutFeatures)).Sum(0);
            var shape = hidden.Shape;
            shape[^1] = OutFeatures;
            result = result + hidden.Reshape(-1, s.R).MatMul(combined).Reshape(shape) * s.Scaling;
        }
        return result;
    }

    /// <inheritdoc/>
    public override string? MergeRefusal(string name) => "Lily's expert mixture is averaged over the batch's tokens, so it is no fixed weight (PEFT raises too)";
}
