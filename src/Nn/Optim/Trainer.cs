using System.Diagnostics;
using Engine.Autograd;

namespace Engine.Nn;

/// <summary>
/// The training loop, written once: for each step, training mode, the learning rate from the schedule, the caller's
/// loss (forward pass on the next batch), plus the model's regularisation terms (<see cref="ITrainingHooks"/>), a check
/// that it is finite, backward, gradient clipping over the trainable parameters, the optimiser step, the model's
/// after-step hook, then cleared gradients; progress and periodic evaluation around it. A model with hooks is given
/// the optimiser first and is called before each forward pass and after each backward pass too.
/// <code>var result = new Trainer(model, new AdamW(model.Parameters(), 3e-3), new TrainerOptions(1000, MaxGradNorm: 1.0))
///     .Run(step => Losses.CrossEntropy(model.Forward(x), y));</code>
/// </summary>
public sealed class Trainer
{
    readonly Module _model;
    readonly Optimizer _optimizer;

    /// <summary>A loop that trains <paramref name="model"/> with <paramref name="optimizer"/> as <paramref name="options"/> say.</summary>
    public Trainer(Module model, Optimizer optimizer, TrainerOptions options)
    {
        if (options.Steps < 0) throw new ArgumentException($"Trainer: the number of steps must be >= 0, got {options.Steps}");
        if (options.EvaluateEvery < 0) throw new ArgumentException($"Trainer: EvaluateEvery must be >= 0, got {options.EvaluateEvery}");
        if (options.MaxGradNorm is <= 0) throw new ArgumentException($"Trainer: MaxGradNorm must be positive, got {options.MaxGradNorm}");
        // Without its sampled-label loss Sophia-G would never estimate a Hessian and silently train as sign-momentum.
        if (optimizer is IHessianEstimating && options.HessianSample is null)
            throw new ArgumentException($"Trainer: {optimizer.GetType().Name} estimates a Hessian and needs TrainerOptions.HessianSample (a loss on labels sampled from the model, e.g. SophiaG.SampledLabelLoss)");
        _model = model;
        _optimizer = optimizer;
        Options = options;
    }

    /// <summary>The options of the loop.</summary>
    public TrainerOptions Options { get; }

    /// <summary>
    /// Runs <see cref="TrainerOptions.Steps"/> steps; <paramref name="loss"/> gets the 0-based step number and returns
    /// that step's scalar loss (taking the next batch, so the order of random numbers is the caller's).
    /// </summary>
    /// <exception cref="InvalidOperationException">A loss is NaN or infinite; the message names the step, and no update was made with it.</exception>
    public TrainingResult Run(Func<int, Tensor> loss)
    {
        var hooks = _model as ITrainingHooks;
        var clock = Stopwatch.StartNew();
        double last = double.NaN;
        hooks?.AttachOptimizer(_optimizer);
        _optimizer.ZeroGrad();
        for (int step = 0; step < Options.Steps; step++)
        {
            _model.Train();
            LrScheduler.Apply(_optimizer, Options.Schedule, step);
            hooks?.BeforeForward(step);
            try
            {
                var total = loss(step);
                if (hooks?.RegularizationLoss() is { } regularization) total = total + regularization;
                last = total.Item();
                if (!double.IsFinite(last))
                    throw new InvalidOperationException($"Trainer: the loss at step {step} (0-based) is {last}; lower the learning rate, clip gradients (MaxGradNorm) or check the data");
                total.Backward();
                if (Options.MaxGradNorm is { } maxNorm) GradClip.ClipGradNorm(_model.TrainableParameters(), maxNorm);
            }
            catch
            {
                // A failed step still undoes what BeforeForward changed (LoRA-MGPO's perturbed weights), so the model
                // is left as it was; no update is made.
                hooks?.AfterBackward(step);
                _optimizer.ZeroGrad();
                throw;
            }
            hooks?.AfterBackward(step);
            _optimizer.Step();
            // The hook runs before the gradients are cleared: AdaLoRA's importance scores read them.
            hooks?.AfterOptimizerStep(step);
            _optimizer.ZeroGrad();
            EstimateHessian(step);

            int completed = step + 1;
            Options.Progress?.Invoke(new TrainingProgress(completed, Options.Steps, last, TokensPerSecond(completed, clock.Elapsed), clock.Elapsed));
            if (Options.Evaluate is not null && ((Options.EvaluateEvery > 0 && completed % Options.EvaluateEvery == 0) || completed == Options.Steps))
                Options.Evaluate(completed);
        }
        return new TrainingResult(last, Options.Steps, clock.Elapsed, TokensPerSecond(Options.Steps, clock.Elapsed));
    }

    /// <summary>
    /// Sophia-G's extra backward (<see cref="IHessianEstimating"/>): after a step whose estimate is due, the gradient of
    /// the caller's sampled-label loss is folded into the optimiser's Hessian estimate, then cleared.
    /// </summary>
    void EstimateHessian(int step)
    {
        if (_optimizer is not IHessianEstimating estimating || !estimating.HessianDue || Options.HessianSample is not { } sample) return;
        var s = sample(step);
        s.Loss.Backward();
        estimating.UpdateHessian(s.DataPoints);
        _optimizer.ZeroGrad();
    }

    double TokensPerSecond(int steps, TimeSpan elapsed) => Options.TokensPerStep * (double)steps / Math.Max(elapsed.TotalSeconds, 1e-9);
}
