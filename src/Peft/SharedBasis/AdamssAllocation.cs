namespace Engine.Peft.SharedBasis;

/// <summary>
/// AdaMSS's adaptive subspace allocation (ASA; PEFT's <c>AdamssModel.update_and_allocate</c>, <c>update_importance</c>
/// and <c>_global_mask_to_target</c>), a step hook that acts only with <c>use_asa</c>. At each step t in
/// [init_warmup, final_warmup] it smooths the sensitivity I = |p ⊙ ∂L/∂p| of every A_i and B_i
/// (U ← β_u U + (1 − β_u) |I − Ī| first, then Ī ← β_i Ī + (1 − β_i) I); when t is a multiple of mask_interval it scores
/// each subspace mean(Ī U) of A_i plus that of B_i across all layers, keeps trainable those scoring strictly above the
/// target(t)-th best (all when target(t) is at least their number), freezes the rest (no gradient, so the optimiser
/// skips them), and restarts the averages. target(t) = ⌊T + (N − T)(1 − (t − t_i)/(t_f − t_i))^e⌋ with N the
/// adapter's subspaces over all layers and T = asa_target_subspaces. As PEFT: the strict comparison keeps target − 1
/// subspaces when the scores differ; a subspace without gradients is not scored and stays as it is.
/// </summary>
public sealed class AdamssAllocation(AdapterModelPartContext context) : AdapterModelPart(context), IStepHook
{
    readonly Dictionary<Tensor, (Tensor Importance, Tensor Uncertainty)> _ema = new(ReferenceEqualityComparer.Instance);

    /// <summary>The target of the last masking step, or null before any.</summary>
    public int? LastTarget { get; private set; }

    /// <summary>The number of subspaces ASA keeps trainable at <paramref name="step"/> (null before init_warmup), out of <paramref name="total"/>.</summary>
    public static int? Target(int step, AdamssConfig c, int total)
    {
        if (step < c.InitWarmup) return null;
        if (step > c.FinalWarmup) return c.AsaTargetSubspaces;
        double span = c.FinalWarmup - c.InitWarmup;
        double mul = span > 0 ? Math.Clamp(1.0 - (step - c.InitWarmup) / span, 0, 1) : 0;
        return (int)(c.AsaTargetSubspaces + (total - c.AsaTargetSubspaces) * Math.Pow(mul, c.AsaScheduleExponent));
    }

    /// <inheritdoc/>
    public void OnStep(int step, PeftModel model)
    {
        if (!model.PeftConfigs.TryGetValue(AdapterName, out var pc) || pc is not AdamssConfig { UseAsa: true, InferenceMode: false } c) return;
        if (step < c.InitWarmup || step > c.FinalWarmup) return;
        var layers = model.AdapterLayers().Select(l => l.Layer).OfType<AdamssLayer>().Where(l => l.AdapterNames.Contains(AdapterName)).ToList();
        using (Autograd.Autograd.NoGrad())
        {
            foreach (var layer in layers)
                for (int i = 0; i < layer.SubspaceCount(AdapterName); i++)
                    foreach (var p in new[] { layer.A(AdapterName, i), layer.B(AdapterName, i) })
                    {
                        if (p.Grad is null) continue;
                        var sensitivity = (p * p.Grad).Abs();
                        var (ibar, ubar) = _ema.TryGetValue(p, out var e) ? e : (p.ZerosLike(), p.ZerosLike());
                        ubar = ubar * c.AsaUncertaintyBeta + (sensitivity - ibar).Abs() * (1 - c.AsaUncertaintyBeta);
                        ibar = ibar * c.AsaImportanceBeta + sensitivity * (1 - c.AsaImportanceBeta);
                        _ema[p] = (ibar, ubar);
                    }
            if (step % c.MaskInterval != 0) return;
            int total = layers.Sum(l => l.SubspaceCount(AdapterName));
            int target = Target(step, c, total)!.Value;
            var scored = new List<(Tensor A, Tensor B, double Score)>();
            foreach (var layer in layers)
                for (int i = 0; i < layer.SubspaceCount(AdapterName); i++)
                {
                    var (a, b) = (layer.A(AdapterName, i), layer.B(AdapterName, i));
                    if (!_ema.TryGetValue(a, out var ea) || !_ema.TryGetValue(b, out var eb)) continue;
                    scored.Add((a, b, (ea.Importance * ea.Uncertainty).Mean().Item() + (eb.Importance * eb.Uncertainty).Mean().Item()));
                }
            if (scored.Count > 0)
            {
                double threshold = target >= scored.Count || target < 1 ? double.NegativeInfinity
                    : scored.Select(s => s.Score).OrderByDescending(s => s).ElementAt(target - 1);
                foreach (var (a, b, score) in scored)
                {
                    bool keep = score > threshold;
                    foreach (var p in new[] { a, b })
                    {
                        p.RequiresGrad = keep;
                        if (!keep) p.Grad = null;
                    }
                }
            }
            LastTarget = target;
            _ema.Clear();
        }
    }
}
