namespace Engine.Peft.LowRank;

/// <summary>
/// AdaLoRA's cubic budget schedule (Zhang et al. 2023, equation 12; PEFT's <c>RankAllocator.budget_schedule</c>):
/// b(t) = b0 for t &lt;= t_init; b_T for t &gt; T - t_final; otherwise
/// b_T + (b0 - b_T) (1 - (t - t_init) / (T - t_final - t_init))^3, rounded down, with masking every Delta T steps: the engine's one <see cref="CubicSchedule"/>.
/// </summary>
/// <param name="InitialBudget">b0 = init_r times the number of adapted layers.</param>
/// <param name="TargetBudget">b_T = target_r times the number of adapted layers.</param>
/// <param name="Tinit">Warm-up steps.</param>
/// <param name="Tfinal">Final steps.</param>
/// <param name="TotalStep">T.</param>
/// <param name="DeltaT">Steps between reallocations.</param>
public sealed record AdaLoraBudgetSchedule(int InitialBudget, int TargetBudget, int Tinit, int Tfinal, int TotalStep, int DeltaT)
{
    /// <summary>The budget at step <paramref name="step"/> and whether the triplets are masked to it at this step.</summary>
    public (int Budget, bool Mask) At(int step)
    {
        if (step <= Tinit) return (InitialBudget, false);
        if (step > TotalStep - Tfinal) return (TargetBudget, true);
        int budget = (int)Math.Floor(new CubicSchedule(InitialBudget, TargetBudget, Tinit, Tfinal, TotalStep).At(step));
        return (budget, step % DeltaT == 0);
    }
}
