namespace Engine.Peft;

/// <summary>
/// A method that trains its tensors at learning rates of their own (DePT's prompt and low-rank embedding update, spec
/// adapters-other.md section 9): its model part returns the groups for the parameters it claims, and
/// <see cref="PeftModel.ParamGroups"/> puts every other trainable parameter in one default group, so the jobs build one
/// optimiser for any method.
/// </summary>
public interface IParamGroupSource
{
    /// <summary>Groups for this method's parameters, given the job's peak learning rate and weight decay.</summary>
    IEnumerable<ParamGroup> ParamGroups(PeftModel model, double lr, double weightDecay);
}
