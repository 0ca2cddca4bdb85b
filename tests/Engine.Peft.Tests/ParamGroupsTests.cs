using Engine.Nn;
using Xunit;
using static Engine.Peft.Tests.TestSupport;

namespace Engine.Peft.Tests;

/// <summary>
/// The adapted model's side of the training loop: the optimiser groups the jobs build (<see cref="PeftModel.ParamGroups"/>)
/// and the optimiser the Trainer attaches.
/// </summary>
public class ParamGroupsTests
{
    [Fact]
    public void WithoutAMethodThatSetsRates_OneDefaultGroupHoldsExactlyTheTrainableParameters()
    {
        var peft = Peft.Apply(TinyGpt(), Lora(targets: ["c_attn", "c_proj"]));
        var groups = peft.ParamGroups(lr: 3e-3, weightDecay: 0.1);
        var group = Assert.Single(groups);
        Assert.Equal("default", group.Name);
        Assert.Equal(3e-3, group.Lr);
        Assert.Equal(0.1, group.WeightDecay);
        Assert.Equal(peft.TrainableParameters().ToList(), group.Parameters, ReferenceEqualityComparer.Instance);
    }

    [Fact]
    public void TheTrainerAttachesItsOptimiser()
    {
        var peft = Peft.Apply(TinyGpt(), Lora(targets: ["c_attn"]));
        Assert.Null(peft.Optimizer);
        var optimizer = new AdamW(peft.ParamGroups(1e-3));
        new Trainer(peft, optimizer, new TrainerOptions(1)).Run(_ => peft.Forward(Ids()).Square().Mean());
        Assert.Same(optimizer, peft.Optimizer);
    }
}
