using Engine.Autograd;
using Xunit;

namespace Engine.Nn.Tests;

/// <summary>The training loop: regularisers and after-step hooks, schedule, clipping, evaluation, divergence.</summary>
public class TrainerTests
{
    /// <summary>A vector parameter whose module adds Regularization * sum(w) to the loss and records its after-step calls.</summary>
    sealed class HookedModule : Module, ITrainingHooks
    {
        public HookedModule(int size = 4) => RegisterParameter("w", Tensor.Ones(size));
        public Tensor W => GetParameter("w");
        public double Regularization { get; init; }
        public List<(int Step, bool SawGradient)> AfterSteps { get; } = new();

        public Tensor? RegularizationLoss() => Regularization == 0 ? null : W.Sum() * Regularization;
        public void AfterOptimizerStep(int step) => AfterSteps.Add((step, W.Grad is not null));
    }

    [Fact]
    public void RegularizationLoss_IsAddedBeforeBackward()
    {
        var m = new HookedModule { Regularization = 2 };
        var losses = new List<double>();
        var result = new Trainer(m, new Sgd(m.Parameters(), lr: 0.1), new TrainerOptions(1, Progress: p => losses.Add(p.Loss)))
            .Run(_ => (m.W * 0).Sum());
        // The task loss is 0 and has zero gradient: all of the update comes from the regulariser 2 sum(w).
        AssertClose(Enumerable.Repeat(1 - 0.1 * 2, 4).ToArray(), m.W.ToDoubleArray(), 1e-6);
        AssertClose(8, losses.Single(), 1e-6);
        AssertClose(8, result.FinalLoss, 1e-6);
    }

    [Fact]
    public void AfterOptimizerStep_RunsOncePerStepWithZeroBasedStepsAndSeesTheGradients()
    {
        var m = new HookedModule();
        new Trainer(m, new Sgd(m.Parameters(), lr: 0.01), new TrainerOptions(3)).Run(_ => m.W.Square().Sum());
        Assert.Equal([(0, true), (1, true), (2, true)], m.AfterSteps);
        Assert.Null(m.W.Grad);
    }

    [Fact]
    public void Schedule_SetsTheLearningRateOfEachStep()
    {
        var m = new HookedModule();
        var optimizer = new Sgd(m.Parameters(), lr: 0.5);
        var schedule = new WarmupCosineSchedule(2, 6);
        var rates = new List<double>();
        new Trainer(m, optimizer, new TrainerOptions(6, Schedule: schedule)).Run(_ =>
        {
            rates.Add(optimizer.Groups[0].Lr);
            return m.W.Sum();
        });
        AssertClose(Enumerable.Range(0, 6).Select(s => 0.5 * schedule.Factor(s)).ToArray(), rates.ToArray(), 1e-12);
    }

    [Fact]
    public void MaxGradNorm_ClipsTheTrainableGradients()
    {
        var m = new HookedModule();
        // Gradient 100 per element, norm 200: clipped to norm 1, each element's update is lr * 100 / 200.
        new Trainer(m, new Sgd(m.Parameters(), lr: 1), new TrainerOptions(1, MaxGradNorm: 1)).Run(_ => (m.W * 100).Sum());
        AssertClose(Enumerable.Repeat(0.5, 4).ToArray(), m.W.ToDoubleArray(), 1e-5);
    }

    [Fact]
    public void Evaluate_RunsEveryNStepsAndAfterTheLast()
    {
        var m = new HookedModule();
        var evaluated = new List<int>();
        var progress = new List<int>();
        var result = new Trainer(m, new Sgd(m.Parameters(), lr: 0.01), new TrainerOptions(5, TokensPerStep: 10, EvaluateEvery: 2,
            Evaluate: done => { evaluated.Add(done); m.Eval(); }, Progress: p => progress.Add(p.Completed))).Run(_ =>
        {
            Assert.True(m.Training);  // put back in training mode after an evaluation
            return m.W.Sum();
        });
        Assert.Equal([2, 4, 5], evaluated);
        Assert.Equal([1, 2, 3, 4, 5], progress);
        Assert.Equal(5, result.Steps);
        Assert.True(result.TokensPerSecond > 0);
    }

    [Fact]
    public void NonFiniteLoss_StopsNamingTheStepBeforeAnyUpdate()
    {
        var m = new HookedModule();
        var e = Assert.Throws<InvalidOperationException>(() => new Trainer(m, new Sgd(m.Parameters(), lr: 0.1), new TrainerOptions(5))
            .Run(step => step == 2 ? m.W.Sum() * double.NaN : m.W.Sum()));
        Assert.Contains("step 2", e.Message);
        AssertClose(Enumerable.Repeat(1 - 2 * 0.1, 4).ToArray(), m.W.ToDoubleArray(), 1e-6);
        Assert.Equal(2, m.AfterSteps.Count);
    }
}
