namespace Engine.Nn;

/// <summary>
/// The learning-rate rule for state-space parameters (S4D paper, section 5 and the reference code's
/// <c>setup_optimizer</c>): the parameters that set the dynamics (<c>log_dt</c>, <c>log_A_real</c>, <c>A_imag</c> of every
/// <see cref="S4D"/>) form their own optimiser group with a smaller learning rate and no weight decay; C, D and
/// every other parameter keep the base hyper-parameters.
/// <code>var opt = new AdamW(SsmParamGroups.Build(model, lr: 3e-3, weightDecay: 0.1));</code>
/// </summary>
public static class SsmParamGroups
{
    /// <summary>Name of the group of SSM dynamics parameters.</summary>
    public const string SsmGroupName = "ssm";

    /// <summary>Name of the group of every other parameter.</summary>
    public const string DefaultGroupName = "default";

    /// <summary>
    /// Groups the trainable parameters of <paramref name="model"/>: "default" (lr <paramref name="lr"/>, weight decay
    /// <paramref name="weightDecay"/>) and "ssm" (lr <paramref name="ssmLr"/>, by default min(lr, 1e-3) as the reference,
    /// weight decay 0). Empty groups are left out.
    /// </summary>
    public static IReadOnlyList<ParamGroup> Build(Module model, double lr, double weightDecay = 0, double? ssmLr = null)
    {
        var ssm = new HashSet<Tensor>(ReferenceEqualityComparer.Instance);
        foreach (var (_, module) in model.NamedModules())
            if (module is S4D s4d)
                foreach (var (name, p) in s4d.NamedParameters())
                    if (S4D.DynamicsParameterNames.Contains(name)) ssm.Add(p);
        var trainable = model.TrainableParameters().ToList();
        var groups = new List<ParamGroup>();
        var rest = trainable.Where(p => !ssm.Contains(p)).ToList();
        var dynamics = trainable.Where(ssm.Contains).ToList();
        if (rest.Count > 0) groups.Add(new ParamGroup(rest, lr, weightDecay, DefaultGroupName));
        if (dynamics.Count > 0) groups.Add(new ParamGroup(dynamics, ssmLr ?? Math.Min(lr, 1e-3), 0, SsmGroupName));
        return groups;
    }
}
