namespace Engine.Nn.Tests;

/// <summary>
/// One language-model training step as the resume tests take it: the scheduled rate, a batch of random token windows
/// from <c>data</c>, cross-entropy, backward, clipping at 1, the optimiser step. Shared so that the checkpoint tests
/// and the optimiser resume tests exercise the same loop.
/// </summary>
static class LanguageModelStep
{
    /// <summary>Runs step <paramref name="step"/> on <paramref name="batch"/> windows of the model's context; returns the loss.</summary>
    public static double Run(Gpt model, Optimizer optimizer, ILrSchedule schedule, long step, Generator data, int batch)
    {
        var config = model.Config;
        LrScheduler.Apply(optimizer, schedule, step);
        var ids = Tensor.Randint(0, config.VocabSize, [batch, config.ContextLength + 1], generator: data);
        var loss = Losses.CrossEntropy(model.Forward(ids.Narrow(1, 0, config.ContextLength)), ids.Narrow(1, 1, config.ContextLength));
        optimizer.ZeroGrad();
        Autograd.Autograd.Backward(loss);
        GradClip.ClipGradNorm(model.Parameters(), 1.0);
        optimizer.Step();
        return loss.Item();
    }
}
