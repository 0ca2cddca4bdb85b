namespace Engine.Peft;

/// <summary>
/// The cubic schedule shared by AdaLoRA's rank budget (Zhang et al. 2023, equation 12) and PST's sparsity (Li et al.
/// 2022, IJCAI; AliceMind <c>S4/PST/pst/utils.py::schedule_sparsity_ratio</c>), spec adapters-other.md "Shared
/// mechanisms": v(t) = <see cref="Start"/> for t &lt;= <see cref="WarmupInit"/>; <see cref="End"/> for
/// t &gt; <see cref="Total"/> − <see cref="WarmupFinal"/>; otherwise End + (Start − End)(1 − (t − WarmupInit) /
/// (Total − WarmupFinal − WarmupInit))³. The warm-ups are step counts (PST gives them as fractions of T: multiply first).
/// <code>var s = new CubicSchedule(0, 0.9, 10, 30, 100).At(50); // PST's sparsity half-way through</code>
/// </summary>
/// <param name="Start">The value during the initial warm-up.</param>
/// <param name="End">The value after the schedule.</param>
/// <param name="WarmupInit">Steps at <see cref="Start"/>.</param>
/// <param name="WarmupFinal">Final steps at <see cref="End"/>.</param>
/// <param name="Total">T, the number of steps.</param>
public readonly record struct CubicSchedule(double Start, double End, double WarmupInit, double WarmupFinal, double Total)
{
    /// <summary>The value at step <paramref name="step"/>.</summary>
    public double At(double step)
    {
        if (step <= WarmupInit) return Start;
        if (step > Total - WarmupFinal) return End;
        double remaining = 1 - (step - WarmupInit) / (Total - WarmupFinal - WarmupInit);
        return (Start - End) * remaining * remaining * remaining + End;
    }
}
