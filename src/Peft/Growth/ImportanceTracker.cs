namespace Engine.Peft.Growth;

/// <summary>
/// The smoothed importance of AdaLoRA (Zhang et al. 2023, equations 8-10; PEFT's <c>RankAllocator.update_ipt</c>) and
/// IncreLoRA (arXiv 2308.12043, <c>loralib/loralib/increlora.py</c> <c>RankAllocator.update_ipt</c>), written once:
/// for each tracked key (a parameter for AdaLoRA's per-entry scores, a layer for IncreLoRA's per-module score) and
/// sensitivity I, Ibar = beta1 Ibar + (1 - beta1) I and U = beta2 U + (1 - beta2) |I - Ibar| (with the new Ibar), and
/// the score is Ibar * U. Both start at zero. Spec adapters-lowrank.md, "Shared mechanisms" (importance EMA).
/// </summary>
/// <param name="beta1">EMA coefficient of the sensitivity.</param>
/// <param name="beta2">EMA coefficient of the uncertainty.</param>
public sealed class ImportanceTracker(double beta1, double beta2)
{
    readonly Dictionary<object, (Tensor Ibar, Tensor Ubar)> _ema = new(ReferenceEqualityComparer.Instance);

    /// <summary>EMA coefficient of the sensitivity.</summary>
    public double Beta1 { get; } = beta1;

    /// <summary>EMA coefficient of the uncertainty.</summary>
    public double Beta2 { get; } = beta2;

    /// <summary>Smooths one more sensitivity <paramref name="sensitivity"/> (any shape, constant per key) of <paramref name="key"/>.</summary>
    public void Update(object key, Tensor sensitivity)
    {
        using var _ = Autograd.Autograd.NoGrad();
        var s = sensitivity.Detach();
        var (ibar, ubar) = _ema.TryGetValue(key, out var e) ? e : (s.ZerosLike(), s.ZerosLike());
        var newIbar = ibar * Beta1 + s * (1 - Beta1);
        var newUbar = ubar * Beta2 + (s - newIbar).Abs() * (1 - Beta2);
        _ema[key] = (newIbar, newUbar);
    }

    /// <summary>Smooths a scalar sensitivity of <paramref name="key"/> (a per-module score).</summary>
    public void Update(object key, double sensitivity) => Update(key, Tensor.Scalar(sensitivity, DType.Float64));

    /// <summary>Ibar * U of <paramref name="key"/>, or null before its first update.</summary>
    public Tensor? Score(object key) => _ema.TryGetValue(key, out var e) ? e.Ibar * e.Ubar : null;

    /// <summary>Ibar * U of a scalar key (0 before its first update).</summary>
    public double ScalarScore(object key) => Score(key) is { } s ? s.Item() : 0;

    /// <summary>Forgets every key.</summary>
    public void Clear() => _ema.Clear();
}
