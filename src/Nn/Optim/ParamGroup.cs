namespace Engine.Nn;

/// <summary>Parameters that share hyper-parameters (learning rate, weight decay), as PyTorch's param_groups.</summary>
public sealed class ParamGroup
{
    public ParamGroup(IEnumerable<Tensor> parameters, double lr, double weightDecay = 0, string name = "")
    {
        Parameters = parameters.ToList();
        Lr = BaseLr = lr;
        WeightDecay = weightDecay;
        Name = name;
    }

    public IReadOnlyList<Tensor> Parameters { get; }

    /// <summary>Learning rate of the next step (schedules set it from <see cref="BaseLr"/>).</summary>
    public double Lr { get; set; }

    /// <summary>Learning rate the group was created with.</summary>
    public double BaseLr { get; }

    public double WeightDecay { get; set; }
    public string Name { get; }

    /// <summary>
    /// The group's own learning-rate schedule, or null to follow the trainer's. IncreLoRA gives the ranks it adds
    /// mid-training a warm-up and decay of their own (FeiyuZhang98/IncreLoRA, "restart warmup").
    /// </summary>
    public ILrSchedule? Schedule { get; init; }

    /// <summary>
    /// The step at which the group joined the optimiser (0 for groups given at construction): its schedule is
    /// evaluated at step − StartStep, so a group added at step t starts its warm-up at t.
    /// </summary>
    public long StartStep { get; init; }
}
