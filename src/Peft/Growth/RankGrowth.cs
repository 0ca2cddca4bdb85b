namespace Engine.Peft.Growth;

/// <summary>
/// The growth mechanism IncreLoRA and TriAdaptLoRA share (spec adapters-lowrank.md, "Shared mechanisms" and pitfall
/// 10): which modules grow at a growth step, how many ranks each gets within the budget, and the registration of the
/// new tensors with the optimiser as a new parameter group whose learning-rate schedule restarts at the growth step
/// (the reference codes' <c>optimizer.add_param_group</c>; forgetting it silently freezes the new ranks).
/// </summary>
public static class RankGrowth
{
    /// <summary>
    /// The modules whose score is at least the <paramref name="k"/>-th largest (the reference codes'
    /// <c>torch.topk(scores, k)[0][-1]</c> threshold; ties included), highest score first, ties in module order.
    /// </summary>
    public static IReadOnlyList<int> SelectTop(IReadOnlyList<double> scores, int k)
    {
        if (scores.Count == 0 || k < 1) return [];
        k = Math.Min(k, scores.Count);
        double threshold = scores.OrderDescending().ElementAt(k - 1);
        return Enumerable.Range(0, scores.Count).Where(i => scores[i] >= threshold).OrderByDescending(i => scores[i]).ToList();
    }

    /// <summary>
    /// Ranks given to each of <paramref name="selected"/> (in order): <paramref name="add"/> each while the
    /// <paramref name="left"/> budget lasts, the last one what remains. The reference codes give every selected module
    /// the full step and can overshoot the budget; the engine keeps the total within it.
    /// </summary>
    public static int[] Allot(int selected, int add, int left)
    {
        var result = new int[selected];
        for (int i = 0; i < selected && left > 0; i++)
        {
            result[i] = Math.Min(add, left);
            left -= result[i];
        }
        return result;
    }

    /// <summary>
    /// Registers <paramref name="tensors"/>, created or unfrozen at step <paramref name="step"/>, with the optimiser the
    /// trainer attached to <paramref name="model"/> (<see cref="PeftModel.Optimizer"/>) as one new group: the first
    /// group's base learning rate (the reference's <c>add_param_group</c> takes the optimiser's defaults),
    /// <paramref name="weightDecay"/>, and the trainer's schedule restarted after <paramref name="step"/> (warm-up again, as the reference's per-group schedulers). Without an optimiser (a
    /// hand-written loop) the caller's own optimiser must take them: they are returned for that.
    /// </summary>
    public static IReadOnlyList<Tensor> Register(PeftModel model, IReadOnlyList<Tensor> tensors, int step, double weightDecay, string name)
    {
        if (tensors.Count == 0 || model.Optimizer is not { } optimizer) return tensors;
        // The group's first update comes at the next step: its schedule starts there (StartStep), as a fresh run's.
        optimizer.AddParamGroup(new ParamGroup(tensors, optimizer.Groups[0].BaseLr, weightDecay, name) { StartStep = step + 1 });
        return tensors;
    }
}
