using Xunit;

namespace Engine.Nn.Tests;

/// <summary>
/// The training loop's phases for methods that act around a step (LoRA-MGPO) or grow mid-training (IncreLoRA): the
/// optimiser is attached, BeforeForward/AfterBackward bracket each step (also a failed one), and groups added
/// mid-training get updates and a schedule that starts where they joined.
/// </summary>
public class TrainerPhaseTests
{
    sealed class PhasedModule : Module, ITrainingHooks
    {
        public PhasedModule() => RegisterParameter("w", Tensor.Ones(3));
        public Tensor W => GetParameter("w");
        public List<string> Calls { get; } = new();
        public Optimizer? Attached { get; private set; }
        public Tensor? RegularizationLoss() => null;
        public void AfterOptimizerStep(int step) => Calls.Add($"after-step {step}");
        public void AttachOptimizer(Optimizer optimizer) { Attached = optimizer; Calls.Add("attach"); }
        public void BeforeForward(int step) => Calls.Add($"before-forward {step}");
        public void AfterBackward(int step) => Calls.Add($"after-backward {step} grad={(W.Grad is not null ? "yes" : "no")}");
    }

    [Fact]
    public void Phases_RunInOrderAroundEachStep()
    {
        var m = new PhasedModule();
        var optimizer = new Sgd(m.Parameters(), lr: 0.1);
        new Trainer(m, optimizer, new TrainerOptions(2)).Run(step =>
        {
            m.Calls.Add($"loss {step}");
            return m.W.Sum();
        });
        Assert.Same(optimizer, m.Attached);
        Assert.Equal(["attach",
            "before-forward 0", "loss 0", "after-backward 0 grad=yes", "after-step 0",
            "before-forward 1", "loss 1", "after-backward 1 grad=yes", "after-step 1"], m.Calls);
    }

    [Fact]
    public void AFailedStep_StillCallsAfterBackward_AndUpdatesNothing()
    {
        var m = new PhasedModule();
        var before = m.W.ToDoubleArray();
        var trainer = new Trainer(m, new Sgd(m.Parameters(), lr: 0.1), new TrainerOptions(3));
        Assert.Throws<InvalidOperationException>(() => trainer.Run(step => m.W.Sum() * double.NaN));
        Assert.Equal(["attach", "before-forward 0", "after-backward 0 grad=no"], m.Calls);
        Assert.Equal(before, m.W.ToDoubleArray());
    }

    [Fact]
    public void AddParamGroup_RefusesAParameterAlreadyOptimised()
    {
        var a = Tensor.Ones(2).RequireGrad();
        var optimizer = new Sgd([a], lr: 0.1);
        var ex = Assert.Throws<ArgumentException>(() => optimizer.AddParamGroup(new ParamGroup([a], 0.1, name: "again")));
        Assert.Contains("'again'", ex.Message);
        var b = Tensor.Ones(2).RequireGrad();
        Assert.Throws<ArgumentException>(() => optimizer.AddParamGroup(new ParamGroup([b, b], 0.1, name: "twice")));
        Assert.Single(optimizer.Groups);
    }

    [Fact]
    public void AGroupAddedMidTraining_IsUpdated_AndItsScheduleStartsWhereItJoined()
    {
        var m = new PhasedModule();
        var extra = Tensor.Ones(2).RequireGrad();
        var optimizer = new Sgd(m.Parameters(), lr: 1.0);
        var schedule = new LinearDecaySchedule(WarmupSteps: 2, TotalSteps: 10);
        var extraRates = new List<double>();
        new Trainer(m, optimizer, new TrainerOptions(5, Schedule: schedule)).Run(step =>
        {
            if (step == 3) optimizer.AddParamGroup(new ParamGroup([extra], 0.5, name: "grown") { StartStep = 3 });
            // The schedule was applied before the loss: a group added now gets its rate from the next step on.
            if (optimizer.Groups.Count < 2) return m.W.Sum();
            extraRates.Add(optimizer.Groups[1].Lr);
            return m.W.Sum() + extra.Sum();
        });
        // Joined at step 3 with its base rate (0.5), then step 4 is its own step 1 of the warm-up.
        Assert.Equal([0.5, 0.5 * schedule.Factor(1)], extraRates);
        // Updated at steps 3 and 4 by SGD: 1 − 0.5 − 0.5·Factor(1).
        Assert.Equal(1 - 0.5 - 0.5 * schedule.Factor(1), extra.ToDoubleArray()[0], 12);
    }

    [Fact]
    public void AGroupsOwnSchedule_OverridesTheTrainers()
    {
        var a = Tensor.Ones(1).RequireGrad();
        var b = Tensor.Ones(1).RequireGrad();
        var optimizer = new Sgd([new ParamGroup([a], 1.0), new ParamGroup([b], 1.0) { Schedule = new ConstantSchedule(WarmupSteps: 4) }]);
        LrScheduler.Apply(optimizer, new ConstantSchedule(), 0);
        Assert.Equal(1.0, optimizer.Groups[0].Lr);
        Assert.Equal(0.25, optimizer.Groups[1].Lr);
        LrScheduler.Apply(optimizer, null, 1);
        Assert.Equal(1.0, optimizer.Groups[0].Lr);
        Assert.Equal(0.5, optimizer.Groups[1].Lr);
    }

    [Fact]
    public void StateOf_ReadsAMomentAfterTheFirstUpdate()
    {
        var p = Tensor.FromArray(new double[] { 1, 2 }).RequireGrad();
        var adam = new Adam([p], lr: 0.1);
        Assert.Null(adam.StateOf(p, "exp_avg"));
        p.Grad = Tensor.FromArray(new double[] { 1, -2 });
        adam.Step();
        // exp_avg = (1 − β1) g with β1 = 0.9.
        Assert.Equal([0.1, -0.2], adam.StateOf(p, "exp_avg")!.ToDoubleArray().Select(v => Math.Round(v, 12)));
        Assert.Null(adam.StateOf(p, "no such slot"));
    }
}
