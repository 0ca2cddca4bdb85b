namespace Engine.Nn;

/// <summary>A learning-rate schedule: the factor applied to each group's base rate at a step.</summary>
public interface ILrSchedule
{
    double Factor(long step);
}

/// <summary>Constant learning rate, optionally after a linear warm-up.</summary>
public sealed record ConstantSchedule(long WarmupSteps = 0) : ILrSchedule
{
    public double Factor(long step) => step < WarmupSteps ? (step + 1.0) / WarmupSteps : 1.0;
}

/// <summary>Linear warm-up, then cosine decay to <paramref name="MinFactor"/> at <paramref name="TotalSteps"/> (Loshchilov and Hutter 2017).</summary>
public sealed record WarmupCosineSchedule(long WarmupSteps, long TotalSteps, double MinFactor = 0) : ILrSchedule
{
    public double Factor(long step)
    {
        if (step < WarmupSteps) return (step + 1.0) / WarmupSteps;
        double progress = Math.Clamp((double)(step - WarmupSteps) / Math.Max(1, TotalSteps - WarmupSteps), 0, 1);
        return MinFactor + (1 - MinFactor) * 0.5 * (1 + Math.Cos(Math.PI * progress));
    }
}

/// <summary>Linear warm-up, then linear decay to zero at <paramref name="TotalSteps"/>.</summary>
public sealed record LinearDecaySchedule(long WarmupSteps, long TotalSteps) : ILrSchedule
{
    public double Factor(long step)
    {
        if (step < WarmupSteps) return (step + 1.0) / WarmupSteps;
        return Math.Max(0, (double)(TotalSteps - step) / Math.Max(1, TotalSteps - WarmupSteps));
    }
}

/// <summary>Sets the groups' learning rates from a schedule before each step.</summary>
public static class LrScheduler
{
    /// <summary>
    /// Each group's rate becomes its base rate times its schedule's factor (<see cref="ParamGroup.Schedule"/>, else
    /// <paramref name="schedule"/>) at step − <see cref="ParamGroup.StartStep"/>; a group with neither keeps its rate.
    /// </summary>
    public static void Apply(Optimizer optimizer, ILrSchedule? schedule, long step)
    {
        foreach (var g in optimizer.Groups)
            if ((g.Schedule ?? schedule) is { } s) g.Lr = g.BaseLr * s.Factor(Math.Max(0, step - g.StartStep));
    }
}
