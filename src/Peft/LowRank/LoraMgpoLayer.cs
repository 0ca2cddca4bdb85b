namespace Engine.Peft.LowRank;

/// <summary>
/// A <see cref="Linear"/> with LoRA-MGPO adapters (<see cref="LoraMgpoConfig"/>; arXiv:2502.14538; reference
/// llm172/LoRA-MGPO <c>lora_mgpo/trainer.py</c>; spec adapters-lowrank.md section 10). The adapter is plain LoRA,
/// y = x W0ᵀ + b0 + s B(A(dropout(x))), with PEFT's containers <c>lora_dropout</c>, <c>lora_A</c>, <c>lora_B</c>;
/// what differs is training: around each step's forward and backward the frozen W0 carries a perturbation
/// ε = −ρ a D / (‖D‖_F + eps) (<see cref="Perturbation"/>), added by <see cref="BeforeForward"/> and removed by
/// <see cref="AfterBackward"/>, which restores a saved copy of W0 (so W0 comes back bit for bit, not as W0 + ε − ε)
/// and then updates ĝ, the EMA of the layer's gradient norm (buffer <c>lora_mgpo_grad_ema</c>, negative until the
/// first value). Evaluation and merging never see ε.
/// </summary>
public sealed class LoraMgpoLayer : AdditiveAdapterLayer, ITrainingPhaseHook
{
    /// <summary>The container of ĝ [1] (a negative value: no gradient seen yet, so a = 1 as in the reference).</summary>
    public const string GradEmaKey = "lora_mgpo_grad_ema";

    // The reference's clamp of the adaptive scale a (trainer.py: adaptive_scale.clamp(max=10.0)).
    const double MaxScale = 10;

    readonly Dictionary<string, (Tensor A, Tensor B)> _lastGradients = new();
    Tensor? _unperturbed;

    /// <summary>Wraps <paramref name="baseLayer"/>; add adapters with <see cref="AdapterLayer.AddAdapter"/>.</summary>
    public LoraMgpoLayer(Linear baseLayer) : base(baseLayer) { }

    /// <summary>The config adapter <paramref name="name"/> was added with.</summary>
    public LoraMgpoConfig Config(string name) => (LoraMgpoConfig)ConfigOf(name);

    /// <summary>s = alpha / r (rsLoRA: alpha / sqrt r) of adapter <paramref name="name"/>.</summary>
    public double Scaling(string name) => State<MgpoSettings>(name).Scaling;

    /// <summary>A [r, in] of adapter <paramref name="name"/>.</summary>
    public Tensor LoraA(string name) => ModuleOf<Linear>("lora_A", name).Weight;

    /// <summary>B [out, r] of adapter <paramref name="name"/>.</summary>
    public Tensor LoraB(string name) => ModuleOf<Linear>("lora_B", name).Weight;

    /// <summary>ĝ of adapter <paramref name="name"/>, or null before the first backward pass.</summary>
    public double? GradientEma(string name)
    {
        double g = Buffer(GradEmaKey, name).Item();
        return g < 0 ? null : g;
    }

    /// <summary>True while <see cref="BeforeForward"/>'s perturbation sits in W0.</summary>
    public bool Perturbed => _unperturbed is not null;

    /// <inheritdoc/>
    public override IEnumerable<PlannedTensor> PlanAdapter(AdapterContext context)
    {
        int r = context.ConfigAs<LoraMgpoConfig>().R;
        if (r < 1) throw new ArgumentException($"LoraMgpoLayer: rank must be positive, got {r} for '{context.Path.External}'");
        return [Planned("lora_A", "weight", r, InFeatures), Planned("lora_B", "weight", OutFeatures, r), Planned(GradEmaKey, null, 1)];
    }

    /// <inheritdoc/>
    protected override void CreateAdapter(AdapterContext context)
    {
        var c = context.ConfigAs<LoraMgpoConfig>();
        var name = context.Name;
        SetState(name, new MgpoSettings(c.Scaling(c.R)));
        var g = context.Generator;
        // The same draws in the same order as LoraLayer: with the same seed the two start from the same A (and B).
        AddDropout("lora_dropout", name, c.LoraDropout, g);
        AddModule("lora_A", name, new Linear(InFeatures, c.R, bias: false, g));
        var b = AddModule("lora_B", name, new Linear(c.R, OutFeatures, bias: false, g));
        if (c.InitLoraWeights) using (Autograd.Autograd.NoGrad()) Init.Zeros(b.Weight);
        AddBuffer(GradEmaKey, name, Tensor.Full([1], -1, BaseWeight.DType, BaseWeight.Device));
    }

    /// <summary>s B A [out, in].</summary>
    public override Tensor DeltaWeight(string name) => LoraB(name) % LoraA(name) * Scaling(name);

    /// <inheritdoc/>
    protected override Tensor Contribution(string name, Tensor x) =>
        ModuleOf<Linear>("lora_B", name).Forward(ModuleOf<Linear>("lora_A", name).Forward(x)) * Scaling(name);

    /// <summary>
    /// D = s (M_B A + B M_A) [out, in] of adapter <paramref name="name"/>: with mgpo_direction "momentum" M are
    /// <paramref name="optimizer"/>'s first moments of A and B (Adam's <c>exp_avg</c>, else SGD's <c>momentum</c>, as
    /// the reference's <c>_optimizer_momentum</c>); with "gradient" the gradients of A and B at the last backward pass.
    /// Null when there are none yet (the first step) or D is not finite (the reference skips the layer then).
    /// </summary>
    public Tensor? Direction(string name, Optimizer? optimizer)
    {
        Tensor a = LoraA(name), b = LoraB(name);
        Tensor? ma, mb;
        if (Config(name).MgpoDirection == "gradient")
            (ma, mb) = _lastGradients.TryGetValue(name, out var last) ? (last.A, last.B) : (null, null);
        else
        {
            ma = optimizer?.StateOf(a, "exp_avg") ?? optimizer?.StateOf(a, "momentum");
            mb = optimizer?.StateOf(b, "exp_avg") ?? optimizer?.StateOf(b, "momentum");
        }
        if (ma is null || mb is null) return null;
        using var _ = Autograd.Autograd.NoGrad();
        return (mb % a.Detach() + b.Detach() % ma) * Scaling(name);
    }

    /// <summary>
    /// ε = −ρ a D / (‖D‖_F + eps) [out, in] of adapter <paramref name="name"/>, with a = min(1 / (ĝ + eps), 10) (1 before
    /// the first ĝ, or with mgpo_normalize false). Null when ρ = 0, when there is no direction, or when ‖D‖_F ≤ eps
    /// (the reference applies nothing then).
    /// </summary>
    public Tensor? Perturbation(string name, Optimizer? optimizer)
    {
        var c = Config(name);
        if (c.Rho == 0 || Direction(name, optimizer) is not { } d) return null;
        using var _ = Autograd.Autograd.NoGrad();
        double norm = d.Square().Sum().Sqrt().Item();
        if (!double.IsFinite(norm) || norm <= c.MgpoEps) return null;
        double scale = c.MgpoNormalize && GradientEma(name) is { } ema ? 1 / (ema + c.MgpoEps) : 1;
        scale = Math.Min(scale, MaxScale);
        return (d * (-c.Rho / (norm + c.MgpoEps) * scale)).To(BaseWeight.DType);
    }

    /// <summary>
    /// Adds the active adapters' perturbations into W0 (the trainer calls it before the forward pass), keeping a copy
    /// of W0 to restore. Nothing while the layer is disabled or an adapter is merged (the perturbation is a training
    /// device of unmerged LoRA), or when there is no optimiser to read the moments from.
    /// </summary>
    public void BeforeForward(int step, PeftModel model) => Perturb(model.Optimizer);

    /// <summary>
    /// Restores W0 from the copy <see cref="BeforeForward"/> kept, then updates ĝ from the gradients of A and B (the
    /// trainer calls it after backward and gradient clipping, before the optimiser step).
    /// </summary>
    public void AfterBackward(int step, PeftModel model)
    {
        Restore();
        UpdateGradientEma();
    }

    /// <summary><see cref="BeforeForward"/> with the optimiser given (a hand-written loop).</summary>
    public void Perturb(Optimizer? optimizer)
    {
        Restore();
        if (Disabled || Merged) return;
        Tensor? total = null;
        foreach (var name in ActiveAdapters)
            if (Perturbation(name, optimizer) is { } e) total = total is null ? e : total + e;
        if (total is null) return;
        using var _ = Autograd.Autograd.NoGrad();
        var weight = BaseLayer.Weight;
        _unperturbed = weight.Detach().Clone();
        weight.CopyFrom(weight.Detach() + total);
    }

    /// <summary>Puts back W0 as it was before <see cref="Perturb"/>, bit for bit (no-op when not perturbed).</summary>
    public void Restore()
    {
        if (_unperturbed is not { } saved) return;
        using (Autograd.Autograd.NoGrad()) BaseLayer.Weight.CopyFrom(saved);
        _unperturbed = null;
    }

    /// <summary>
    /// ĝ ← ‖s (∇B A + B ∇A)‖_F for the first value, then β ĝ + (1 − β) ‖s (∇B A + B ∇A)‖_F (the reference's
    /// <c>_update_gradient_ema</c>), for each active adapter whose A and B have gradients; with mgpo_direction
    /// "gradient" it also keeps those gradients for the next step's direction.
    /// </summary>
    public void UpdateGradientEma()
    {
        if (Disabled || Merged) return;
        using var _ = Autograd.Autograd.NoGrad();
        foreach (var name in ActiveAdapters)
        {
            Tensor a = LoraA(name), b = LoraB(name);
            if (a.Grad is not { } ga || b.Grad is not { } gb) continue;
            var c = Config(name);
            double norm = ((gb % a.Detach() + b.Detach() % ga) * Scaling(name)).Square().Sum().Sqrt().Item();
            double ema = GradientEma(name) is { } previous ? c.MgpoBeta * previous + (1 - c.MgpoBeta) * norm : norm;
            Buffer(GradEmaKey, name).CopyFrom(Tensor.Full([1], ema, BaseWeight.DType, BaseWeight.Device));
            if (c.MgpoDirection == "gradient") _lastGradients[name] = (ga.Clone(), gb.Clone());
        }
    }

    /// <inheritdoc/>
    protected override void OnRemoving(string name)
    {
        Restore();
        _lastGradients.Remove(name);
    }

    sealed record MgpoSettings(double Scaling);
}
